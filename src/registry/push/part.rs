//! A part (`glc build --only`) goes up whole, its part record under a tag of its own: the
//! tag `glc merge --push` reads it by.

use std::collections::BTreeMap;

use super::{PushError, fail};
use crate::oci::walk::NodeId;

/// The part record's tag and node, for a part pushed under `part_tag`; `None` for a layout
/// that is no part. A part without a tag, a tag without a part, and a tag the part already
/// holds are refused before the registry is asked anything.
pub(super) fn record_tag(
    by_tag: &BTreeMap<String, NodeId>,
    records: &[NodeId],
    part_tag: Option<&str>,
) -> Result<Option<(String, NodeId)>, PushError> {
    match (records, part_tag) {
        ([], None) => Ok(None),
        ([], Some(tag)) => Err(fail(
            "glc::push::tag",
            format!(
                "`:{tag}` names a part's tag, and the layout is no part (it holds no part record); nothing was pushed"
            ),
            Some("push a release to REGISTRY/REPO, without a tag: its tags are its own"),
        )),
        ([_], None) => Err(fail(
            "glc::push::part",
            "the layout is a part (`glc build --only`): it is pushed under a tag of its own; nothing was pushed",
            Some(
                "give the part's tag, e.g. `glc push part ghcr.io/gardenlinux/gardenlinux:part-aws`; `glc merge --push` reads the parts by those tags",
            ),
        )),
        ([id], Some(tag)) => {
            crate::oci::name::check_tag(tag).map_err(|e| {
                fail(
                    "glc::usage",
                    format!("the part's {e}"),
                    Some("a tag of the distribution spec: letters, digits, `_`, `.` and `-`, at most 128"),
                )
            })?;
            if by_tag.contains_key(tag) {
                return Err(fail(
                    "glc::push::tag",
                    format!(
                        "`{tag}` is a tag of the part already (an image or container); nothing was pushed"
                    ),
                    Some("name the part by a tag no image or container has, e.g. `part-aws`"),
                ));
            }
            Ok(Some((tag.to_owned(), *id)))
        }
        (more, _) => Err(fail(
            "glc::push::layout",
            format!(
                "the layout holds {} part records; nothing was pushed",
                more.len()
            ),
            Some("build the part again with `glc build --only …`"),
        )),
    }
}
