//! Time as text: RFC 3339 for the status line, and serde for `SystemTime` fields (the
//! state file's format).

use std::time::SystemTime;

use serde::Serializer;

/// Writes `t` as RFC 3339 with milliseconds.
pub(crate) fn serialize<S: Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&humantime::format_rfc3339_millis(*t))
}

/// The same for `Option<SystemTime>`.
pub(crate) mod option {
    use std::time::SystemTime;

    use serde::{Deserialize, Deserializer, Serializer};

    /// Writes `Some(t)` as RFC 3339 (a `None` is skipped by the field's attribute).
    pub(crate) fn serialize<S: Serializer>(t: &Option<SystemTime>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => super::serialize(t, s),
            None => s.serialize_none(),
        }
    }

    /// Reads RFC 3339, or null.
    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<SystemTime>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|text| humantime::parse_rfc3339(&text).map_err(|e| serde::de::Error::custom(format!("'{text}': {e}"))))
            .transpose()
    }
}

/// The same for a list.
pub(crate) mod list {
    use std::time::SystemTime;

    use serde::{Deserialize, Deserializer, Serializer};

    /// Writes each time as RFC 3339.
    pub(crate) fn serialize<S: Serializer>(ts: &[SystemTime], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(ts.iter().map(|t| humantime::format_rfc3339_millis(*t).to_string()))
    }

    /// Reads a list of RFC 3339 times.
    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<SystemTime>, D::Error> {
        Vec::<String>::deserialize(d)?
            .iter()
            .map(|text| humantime::parse_rfc3339(text).map_err(|e| serde::de::Error::custom(format!("'{text}': {e}"))))
            .collect()
    }
}

/// RFC 3339 in UTC with milliseconds, e.g. `2026-11-27T20:00:00.123Z`.
pub(crate) fn timestamp(t: SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}
