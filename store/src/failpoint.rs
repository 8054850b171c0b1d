//! Crash injection (feature `failpoints`, for the crash tests only): when the environment
//! variable `SLUICE_STORE_FAILPOINT` names a point the process reaches, it aborts there, as a
//! `kill -9` at that instant would stop it.

/// Aborts the process if `SLUICE_STORE_FAILPOINT` is `name`. A no-op without the feature.
#[inline]
pub fn hit(name: &str) {
    #[cfg(feature = "failpoints")]
    {
        static POINT: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
        let point = POINT.get_or_init(|| std::env::var("SLUICE_STORE_FAILPOINT").ok());
        if point.as_deref() == Some(name) {
            std::process::abort();
        }
    }
    #[cfg(not(feature = "failpoints"))]
    let _ = name;
}
