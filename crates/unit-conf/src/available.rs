//! What a configuration may name outside itself, given to the validator by its caller.

use crate::modules::Modules;

/// What a configuration may name outside itself: the language modules main discovered
/// and the certificates in the store.
#[derive(Clone, Copy)]
pub struct Available<'a> {
    /// The modules applications' types resolve against.
    pub modules: &'a Modules,
    /// Whether the store holds a certificate of this name; `None` where the store is not
    /// at hand (the router, which gets every bundle a configuration names from main and
    /// fails to apply it without one).
    pub certificates: Option<&'a dyn Fn(&str) -> bool>,
}

impl<'a> Available<'a> {
    /// `modules`, with certificate names left unchecked.
    pub fn modules(modules: &'a Modules) -> Available<'a> {
        Available {
            modules,
            certificates: None,
        }
    }

    /// The same, with certificate names checked by `exists`.
    pub fn with_certificates(self, exists: &'a dyn Fn(&str) -> bool) -> Available<'a> {
        Available {
            certificates: Some(exists),
            ..self
        }
    }
}

impl std::fmt::Debug for Available<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Available")
            .field("modules", self.modules)
            .field("certificates", &self.certificates.is_some())
            .finish()
    }
}
