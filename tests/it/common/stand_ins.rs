//! The local stand-ins the end-to-end tests run the real binary against: moto's server for
//! AWS, the Kubernetes API emulator and the Helm engine. Their launchers live in
//! tools/stand-ins, shared with the emulator's own tests.

pub use ::stand_ins::{helm, Emulator, Moto, CERT_MANAGER_PCA_CRDS};
