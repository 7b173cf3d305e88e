//! Checks only a fleet can make.
