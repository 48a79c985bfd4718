//! HTTP/1.x message handling for unitd, working on byte buffers only.
//!
//! The controller (the control API) and the router (the HTTP/1.1 server and
//! its proxy client) both read and write sockets themselves through mio; this
//! crate gives them the pieces in between:
//!
//! - request and response head parsing on top of `httparse`, with the framing
//!   checks that defend against request smuggling (RFC 9112 section 6);
//! - an incremental chunked-body decoder and chunk encoders;
//! - the binary request frame the router sends to a language runner;
//! - response head writing with standard reason phrases;
//! - HTTP dates (IMF-fixdate) and a once-per-second date cache;
//! - request-target helpers: splitting, percent-decoding, path normalization,
//!   query arguments, cookies and header-name and host checks.
//!
//! It deliberately does no I/O, keeps no connection state beyond the chunked
//! decoder, and knows nothing about configuration or routing.

#![forbid(unsafe_code)]

mod app_request;
mod chunked;
mod date;
mod error;
mod fields;
mod framing;
mod relay;
mod request;
mod response;
mod target;
mod upstream;

pub use app_request::{
    AppBody, AppRequest, AppRequestHead, AppResponseHead, FLAG_TLS, FLAG_UPGRADE, MAX_FRAME,
    RESPONSE_CLOSE, WebSocketLimits, decode_app_request, decode_app_response_into,
};
pub use chunked::{ChunkedDecoder, encode_chunk, encode_last_chunk};
pub use date::{DateCache, http_date, parse_http_date};
pub use error::HttpError;
pub use fields::{host_name, is_safe_field_name, normalize_host, parse_cookies};
pub use relay::{BodyRelay, ClientFraming, Relayed};
pub use request::{
    BodyKind, HeadLimits, HeaderBuffers, RequestHead, parse_request_head, parse_request_head_into,
};
pub use response::{HeadWriter, ResponseHead, push_decimal, reason_phrase};
pub use target::{
    decode_query_lenient, encode_location, is_normal_path, is_path_byte, normalize_path,
    normalize_path_keeping, parse_query, percent_decode, percent_encode, split_target,
};
pub use upstream::{
    ResponseBody, ResponseHeadParsed, parse_response_head, parse_response_head_into,
};
