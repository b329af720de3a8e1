//! OCI image layouts: reading other tools' layouts, and writing glc's own.

pub mod source;
