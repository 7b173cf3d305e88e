//! The open-file limit. A fleet member holds its state store's files and its connections
//! to its cluster, about a dozen descriptors, and the soft limit many systems start
//! processes with (1024 on Linux, 256 on macOS) ended a fleet plan of a few dozen members
//! with "Too many open files". As Go programs do (kubectl, helm, terraform), the CLI
//! raises its soft limit to the hard one when it starts.

/// Descriptors one fleet member holds at once while it is planned, with room to spare
/// (about 11 measured: its state store's files, its connections to its API server), and
/// what the process holds besides.
const PER_MEMBER: u64 = 16;
const BESIDES: u64 = 64;

/// A note for the user when this process may open fewer files than `members` fleet
/// members handled at once need; `None` when it may, or when the limit cannot be read.
pub fn shortfall(members: usize) -> Option<String> {
    shortfall_under(soft_limit()?, members)
}

fn shortfall_under(limit: u64, members: usize) -> Option<String> {
    let needed = BESIDES + PER_MEMBER * members as u64;
    (limit < needed).then(|| {
        format!(
            "this process may open {limit} files and {members} members at once need about \
             {needed}; if members fail with \"Too many open files\", raise the limit \
             (`ulimit -n`, as high as the hard limit `ulimit -Hn` allows) or select fewer \
             members at once with --member"
        )
    })
}

#[cfg(unix)]
fn limits() -> Option<libc::rlimit> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct it is given.
    (unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0).then_some(limit)
}

#[cfg(unix)]
fn soft_limit() -> Option<u64> {
    limits().map(|l| l.rlim_cur)
}

#[cfg(not(unix))]
fn soft_limit() -> Option<u64> {
    None
}

/// Raises the soft limit on open files to the hard limit (macOS: at most what a process
/// may hold, `kern.maxfilesperproc`). Returns the soft limit in effect afterwards, or `None`
/// when it cannot be read.
#[cfg(unix)]
pub fn raise_to_hard_limit() -> Option<u64> {
    let mut limit = limits()?;
    let wanted = most_a_process_may_hold(limit.rlim_max);
    if wanted > limit.rlim_cur {
        let raised = libc::rlimit {
            rlim_cur: wanted,
            rlim_max: limit.rlim_max,
        };
        // SAFETY: setrlimit reads the struct it is given; a refusal leaves the limit as it was.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            limit.rlim_cur = wanted;
        }
    }
    Some(limit.rlim_cur)
}

#[cfg(not(unix))]
pub fn raise_to_hard_limit() -> Option<u64> {
    None
}

#[cfg(target_os = "macos")]
fn most_a_process_may_hold(hard: libc::rlim_t) -> libc::rlim_t {
    // macOS refuses a soft limit above kern.maxfilesperproc, and reports the hard limit
    // as unlimited.
    let mut per_process: libc::c_int = 0;
    let mut size = std::mem::size_of::<libc::c_int>();
    let name = c"kern.maxfilesperproc";
    // SAFETY: sysctlbyname writes at most `size` bytes into `per_process`.
    let read = unsafe {
        libc::sysctlbyname(
            name.as_ptr(),
            (&mut per_process as *mut libc::c_int).cast(),
            &mut size,
            std::ptr::null_mut(),
            0,
        )
    };
    if read == 0 && per_process > 0 {
        hard.min(per_process as libc::rlim_t)
    } else {
        // OPEN_MAX of <sys/syslimits.h>, which libc does not export.
        hard.min(10240)
    }
}

#[cfg(all(unix, not(target_os = "macos")))]
fn most_a_process_may_hold(hard: libc::rlim_t) -> libc::rlim_t {
    hard
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_limit_below_what_the_members_need_is_told_with_the_fix() {
        assert_eq!(shortfall_under(20_000, 100), None);
        assert_eq!(shortfall_under(1024, 50), None);
        let note = shortfall_under(1024, 100).unwrap();
        assert!(
            note.starts_with(
                "this process may open 1024 files and 100 members at once need about 1664"
            ) && note.contains("ulimit -n")
                && note.contains("--member"),
            "{note}"
        );
        assert!(
            shortfall_under(256, 20).is_some(),
            "macOS's default with 20 members"
        );
    }
}
