//! API keys: `X-API-Key`, `Authorization: Bearer`, or `?api_key=`; compared in constant time.

/// The accepted keys (never logged, never in Debug output).
pub struct ApiKeys {
    keys: Vec<String>,
}

impl ApiKeys {
    pub fn new(keys: Vec<String>) -> ApiKeys {
        ApiKeys {
            keys: keys.into_iter().filter(|k| !k.is_empty()).collect(),
        }
    }

    pub fn enabled(&self) -> bool {
        !self.keys.is_empty()
    }
}

impl std::fmt::Debug for ApiKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ApiKeys({} keys)", self.keys.len())
    }
}
