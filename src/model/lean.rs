//! Who leans on whom: a container that runs in another's network namespace, or that
//! compose or the operator says restarts with another. Found by `graph`, carried on a
//! pass's roster, said by `audit` and `validate`.

use serde::Serialize;

/// How a dependent leans on its provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Via {
    /// It runs in the provider's network namespace: when the provider's process
    /// restarts, the dependent keeps running without a network.
    Network,
    /// Compose's `depends_on` with `restart: true`.
    Compose,
    /// A target's `restart_with`.
    RestartWith,
}

impl Via {
    /// As `validate` and `audit` say it.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Network => "network",
            Self::Compose => "compose",
            Self::RestartWith => "restart_with",
        }
    }
}

/// One dependent's lean on one provider.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub(crate) struct Leaning {
    /// The provider: its name, or, when no container on the engine is it, what the
    /// dependent names (an id, cut to 12 characters as Docker shows ids).
    pub provider: String,
    /// The dependent's name.
    pub dependent: String,
    /// How the engine is asked for the provider: the id the dependent's network mode
    /// names (the daemon stores the id even when a name was given), else its name.
    #[serde(skip)]
    pub reference: String,
    /// How it leans on it.
    pub via: Via,
    /// Whether the provider exists on the engine. A dependent in the namespace of a
    /// container that is gone (replaced under the same name, or removed) has no network,
    /// and `docker start` refuses it: only recreating it helps.
    pub exists: bool,
}
