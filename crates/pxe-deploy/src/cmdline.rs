//! The kernel command line: where the plan is (`pxe.plan=<url>`).

/// The parameter that names the deploy plan's URL.
pub const PLAN_PARAM: &str = "pxe.plan";

/// The plan URL in a kernel command line (`/proc/cmdline`), if any; the last one wins,
/// as the kernel's own parameters do.
pub fn plan_url(cmdline: &str) -> Option<&str> {
    cmdline
        .split_ascii_whitespace()
        .filter_map(|w| w.strip_prefix(PLAN_PARAM)?.strip_prefix('='))
        .rfind(|u| u.starts_with("http://"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_plan_url() {
        let c = "BOOT_IMAGE=vmlinuz ip=dhcp pxe.plan=http://10.0.0.3:8080/deploy/52:54:00:de:01:01 console=ttyS0\n";
        assert_eq!(
            plan_url(c),
            Some("http://10.0.0.3:8080/deploy/52:54:00:de:01:01")
        );
        assert_eq!(plan_url("ip=dhcp quiet"), None);
        assert_eq!(plan_url("pxe.planx=http://a/b"), None);
        assert_eq!(plan_url("pxe.plan="), None);
        assert_eq!(plan_url("pxe.plan=ftp://a/b"), None, "plain HTTP only");
        assert_eq!(
            plan_url("pxe.plan=http://a/1 pxe.plan=http://a/2"),
            Some("http://a/2")
        );
    }
}
