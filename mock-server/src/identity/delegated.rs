//! The delegated-sign-in state under its former path, for `MockServer` (which builds
//! [`DelegatedState`] and vouches for users with [`SignedIn`]). The code lives in
//! `store`, `sign_in` and `grant`.

pub use super::sign_in::SignedIn;
pub use super::store::{DelegatedState, DeviceCodeError};
