//! Pure design-token engine: DTCG types and values, path rules, resolution with lineage, export
//! formats. No I/O and no async. Nothing recurses to a depth the input controls: resolution is
//! iterative and resolved values are capped at [`MAX_VALUE_DEPTH`], so no token set can overflow
//! the stack.

pub mod export;
pub mod path;
pub mod resolve;
pub mod token_type;
pub mod value;

pub use export::{ExportOptions, Format, UnknownFormat, export};
pub use path::{MAX_PATH_BYTES, MAX_SEGMENTS, PathError, nearest_paths, validate_path};
pub use resolve::{
    Entry, Layer, MAX_ALIAS_CHAIN, MAX_VALUE_DEPTH, ResolveError, ResolveErrors, Resolved,
    ResolvedToken, resolve,
};
pub use token_type::{TokenType, UnknownType};
pub use value::{ValueError, alias_target, validate_value};
