//! How server functions answer: JSON, read as text.
//!
//! The bytes are those of server_fn's own `Json` codec (`serde_json::to_vec`, content type
//! `application/json`), so API clients see no difference. The browser decodes them with
//! `serde_json::from_str` — the reader Leptos uses for island props — instead of
//! `serde_json::from_slice`: serde_json's parser and every type's decoder are generic over
//! the reader, so one reader for props and answers keeps one copy of each in the WASM bundle
//! (see docs/BENCHMARKS.md, "bundle diet"). Every `#[server]` function says
//! `output = kiln_shared::wire::JsonText`; `AppError` uses [`JsonTextEncoding`] too.

use serde::Serialize;
use serde::de::DeserializeOwned;
use server_fn::codec::Post;
use server_fn::{Bytes, ContentType, Decodes, Encodes, Format, FormatType};

/// JSON written as bytes and read back as text (see the module docs).
#[derive(Debug)]
pub struct JsonTextEncoding;

impl ContentType for JsonTextEncoding {
    const CONTENT_TYPE: &'static str = "application/json";
}

impl FormatType for JsonTextEncoding {
    const FORMAT_TYPE: Format = Format::Text;
}

impl<T: Serialize> Encodes<T> for JsonTextEncoding {
    type Error = serde_json::Error;

    fn encode(output: &T) -> Result<Bytes, Self::Error> {
        serde_json::to_vec(output).map(Bytes::from)
    }
}

impl<T: DeserializeOwned> Decodes<T> for JsonTextEncoding {
    type Error = serde_json::Error;

    fn decode(bytes: Bytes) -> Result<T, Self::Error> {
        let text = std::str::from_utf8(&bytes).map_err(serde::de::Error::custom)?;
        serde_json::from_str(text)
    }
}

/// A server function's answer as JSON (`#[server(output = kiln_shared::wire::JsonText)]`).
pub type JsonText = Post<JsonTextEncoding>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_like_json() -> Result<(), serde_json::Error> {
        let value = vec![("a".to_owned(), 1u32)];
        let bytes = <JsonTextEncoding as Encodes<_>>::encode(&value)?;
        assert_eq!(&bytes[..], serde_json::to_vec(&value)?.as_slice());
        let back: Vec<(String, u32)> = JsonTextEncoding::decode(bytes)?;
        assert_eq!(back, value);
        Ok(())
    }
}
