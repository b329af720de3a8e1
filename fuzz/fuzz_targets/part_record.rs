//! Any bytes as the record of a part that `glc merge` reads: a record glc accepts must then
//! assemble into an OCI graph or fail with a diagnostic; nothing may panic.
#![no_main]

use std::collections::BTreeMap;

use glc::oci::layout::LayoutWriter;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok((assembly, part)) = glc::build::merge::read_record(data) {
        assert_eq!(assembly.part.as_ref(), Some(&part));
        if let Err(error) = glc::build::assemble::finish(&assembly, LayoutWriter::dry(), BTreeMap::new()) {
            let diagnostics: glc::diagnostic::Diagnostics = error.into();
            assert!(!diagnostics.is_empty(), "an error without diagnostics");
        }
    }
});
