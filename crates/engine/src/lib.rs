//! Pure design-token engine: DTCG 2025.10 documents and values, colours, resolver documents
//! (sets and modifiers), resolution with lineage, and export formats. No I/O and no async.
//! Nothing recurses to a depth the input controls: parsing and resolution are iterative and
//! resolved values are capped at [`MAX_VALUE_DEPTH`], so no token set can overflow the stack.

pub mod color;
pub mod dtcg;
pub mod export;
pub mod path;
pub mod resolve;
pub mod resolver;
pub mod token_type;
pub mod value;

pub use color::{Color, ColorFormat, ColorSpace};
pub use dtcg::{Code, Diagnostic, Document, Location, Token, TokenSet, parse_document};
pub use export::{
    ExportOption, ExportOptions, Format, NameCase, Theme, UnknownFormat, export, export_themes,
    name_collisions, token_name,
};
pub use path::{MAX_PATH_BYTES, MAX_SEGMENTS, PathError, ROOT_TOKEN, nearest_paths, validate_path};
pub use resolve::{
    Entry, Layer, LayerMeta, MAX_ALIAS_CHAIN, MAX_VALUE_DEPTH, ResolveError, ResolveErrors,
    ResolveOptions, Resolved, ResolvedToken, TokenMeta, resolve, resolve_with, resolve_with_meta,
};
pub use resolver::{
    Input, PlannedNode, ResolverDocument, is_resolver_document, parse_resolver,
    to_resolver_document,
};
pub use token_type::{TokenType, UnknownType};
pub use value::{ValueError, alias_target, ref_pointer, split_ref, validate_value};
