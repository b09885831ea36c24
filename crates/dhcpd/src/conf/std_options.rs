//! Built-in option tables of ISC dhcpd 4.4: the `dhcp`, `server`, `agent`, `fqdn` and `nwip`
//! spaces, each option with its name, code and ISC format string (see `format.rs`).
//! Data transcribed from dhcp-options(5) and dhcpd.conf(5).

/// One built-in option definition.
#[derive(Debug, Clone, Copy)]
pub(crate) struct StdOption {
    pub(crate) name: &'static str,
    pub(crate) format: &'static str,
    pub(crate) code: u32,
}

/// The DHCPv4 options (space `dhcp`).
pub(crate) const DHCP: &[StdOption] = &[
    StdOption {
        name: "subnet-mask",
        format: "I",
        code: 1,
    },
    StdOption {
        name: "time-offset",
        format: "l",
        code: 2,
    },
    StdOption {
        name: "routers",
        format: "IA",
        code: 3,
    },
    StdOption {
        name: "time-servers",
        format: "IA",
        code: 4,
    },
    StdOption {
        name: "ien116-name-servers",
        format: "IA",
        code: 5,
    },
    StdOption {
        name: "domain-name-servers",
        format: "IA",
        code: 6,
    },
    StdOption {
        name: "log-servers",
        format: "IA",
        code: 7,
    },
    StdOption {
        name: "cookie-servers",
        format: "IA",
        code: 8,
    },
    StdOption {
        name: "lpr-servers",
        format: "IA",
        code: 9,
    },
    StdOption {
        name: "impress-servers",
        format: "IA",
        code: 10,
    },
    StdOption {
        name: "resource-location-servers",
        format: "IA",
        code: 11,
    },
    StdOption {
        name: "host-name",
        format: "t",
        code: 12,
    },
    StdOption {
        name: "boot-size",
        format: "S",
        code: 13,
    },
    StdOption {
        name: "merit-dump",
        format: "t",
        code: 14,
    },
    StdOption {
        name: "domain-name",
        format: "t",
        code: 15,
    },
    StdOption {
        name: "swap-server",
        format: "I",
        code: 16,
    },
    StdOption {
        name: "root-path",
        format: "t",
        code: 17,
    },
    StdOption {
        name: "extensions-path",
        format: "t",
        code: 18,
    },
    StdOption {
        name: "ip-forwarding",
        format: "f",
        code: 19,
    },
    StdOption {
        name: "non-local-source-routing",
        format: "f",
        code: 20,
    },
    StdOption {
        name: "policy-filter",
        format: "IIA",
        code: 21,
    },
    StdOption {
        name: "max-dgram-reassembly",
        format: "S",
        code: 22,
    },
    StdOption {
        name: "default-ip-ttl",
        format: "B",
        code: 23,
    },
    StdOption {
        name: "path-mtu-aging-timeout",
        format: "L",
        code: 24,
    },
    StdOption {
        name: "path-mtu-plateau-table",
        format: "SA",
        code: 25,
    },
    StdOption {
        name: "interface-mtu",
        format: "S",
        code: 26,
    },
    StdOption {
        name: "all-subnets-local",
        format: "f",
        code: 27,
    },
    StdOption {
        name: "broadcast-address",
        format: "I",
        code: 28,
    },
    StdOption {
        name: "perform-mask-discovery",
        format: "f",
        code: 29,
    },
    StdOption {
        name: "mask-supplier",
        format: "f",
        code: 30,
    },
    StdOption {
        name: "router-discovery",
        format: "f",
        code: 31,
    },
    StdOption {
        name: "router-solicitation-address",
        format: "I",
        code: 32,
    },
    StdOption {
        name: "static-routes",
        format: "IIA",
        code: 33,
    },
    StdOption {
        name: "trailer-encapsulation",
        format: "f",
        code: 34,
    },
    StdOption {
        name: "arp-cache-timeout",
        format: "L",
        code: 35,
    },
    StdOption {
        name: "ieee802-3-encapsulation",
        format: "f",
        code: 36,
    },
    StdOption {
        name: "default-tcp-ttl",
        format: "B",
        code: 37,
    },
    StdOption {
        name: "tcp-keepalive-interval",
        format: "L",
        code: 38,
    },
    StdOption {
        name: "tcp-keepalive-garbage",
        format: "f",
        code: 39,
    },
    StdOption {
        name: "nis-domain",
        format: "t",
        code: 40,
    },
    StdOption {
        name: "nis-servers",
        format: "IA",
        code: 41,
    },
    StdOption {
        name: "ntp-servers",
        format: "IA",
        code: 42,
    },
    StdOption {
        name: "vendor-encapsulated-options",
        format: "E.",
        code: 43,
    },
    StdOption {
        name: "netbios-name-servers",
        format: "IA",
        code: 44,
    },
    StdOption {
        name: "netbios-dd-server",
        format: "IA",
        code: 45,
    },
    StdOption {
        name: "netbios-node-type",
        format: "B",
        code: 46,
    },
    StdOption {
        name: "netbios-scope",
        format: "t",
        code: 47,
    },
    StdOption {
        name: "font-servers",
        format: "IA",
        code: 48,
    },
    StdOption {
        name: "x-display-manager",
        format: "IA",
        code: 49,
    },
    StdOption {
        name: "dhcp-requested-address",
        format: "I",
        code: 50,
    },
    StdOption {
        name: "dhcp-lease-time",
        format: "L",
        code: 51,
    },
    StdOption {
        name: "dhcp-option-overload",
        format: "B",
        code: 52,
    },
    StdOption {
        name: "dhcp-message-type",
        format: "B",
        code: 53,
    },
    StdOption {
        name: "dhcp-server-identifier",
        format: "I",
        code: 54,
    },
    StdOption {
        name: "dhcp-parameter-request-list",
        format: "BA",
        code: 55,
    },
    StdOption {
        name: "dhcp-message",
        format: "t",
        code: 56,
    },
    StdOption {
        name: "dhcp-max-message-size",
        format: "S",
        code: 57,
    },
    StdOption {
        name: "dhcp-renewal-time",
        format: "L",
        code: 58,
    },
    StdOption {
        name: "dhcp-rebinding-time",
        format: "L",
        code: 59,
    },
    StdOption {
        name: "vendor-class-identifier",
        format: "X",
        code: 60,
    },
    StdOption {
        name: "dhcp-client-identifier",
        format: "X",
        code: 61,
    },
    StdOption {
        name: "nwip-domain",
        format: "t",
        code: 62,
    },
    StdOption {
        name: "nwip-suboptions",
        format: "Enwip.",
        code: 63,
    },
    StdOption {
        name: "nisplus-domain",
        format: "t",
        code: 64,
    },
    StdOption {
        name: "nisplus-servers",
        format: "IA",
        code: 65,
    },
    StdOption {
        name: "tftp-server-name",
        format: "t",
        code: 66,
    },
    StdOption {
        name: "bootfile-name",
        format: "t",
        code: 67,
    },
    StdOption {
        name: "mobile-ip-home-agent",
        format: "IA",
        code: 68,
    },
    StdOption {
        name: "smtp-server",
        format: "IA",
        code: 69,
    },
    StdOption {
        name: "pop-server",
        format: "IA",
        code: 70,
    },
    StdOption {
        name: "nntp-server",
        format: "IA",
        code: 71,
    },
    StdOption {
        name: "www-server",
        format: "IA",
        code: 72,
    },
    StdOption {
        name: "finger-server",
        format: "IA",
        code: 73,
    },
    StdOption {
        name: "irc-server",
        format: "IA",
        code: 74,
    },
    StdOption {
        name: "streettalk-server",
        format: "IA",
        code: 75,
    },
    StdOption {
        name: "user-class",
        format: "t",
        code: 77,
    },
    StdOption {
        name: "slp-directory-agent",
        format: "fIa",
        code: 78,
    },
    StdOption {
        name: "slp-service-scope",
        format: "fto",
        code: 79,
    },
    StdOption {
        name: "fqdn",
        format: "Efqdn.",
        code: 81,
    },
    StdOption {
        name: "relay-agent-information",
        format: "Eagent.",
        code: 82,
    },
    StdOption {
        name: "nds-servers",
        format: "IA",
        code: 85,
    },
    StdOption {
        name: "nds-tree-name",
        format: "t",
        code: 86,
    },
    StdOption {
        name: "nds-context",
        format: "t",
        code: 87,
    },
    StdOption {
        name: "bcms-controller-names",
        format: "D",
        code: 88,
    },
    StdOption {
        name: "bcms-controller-address",
        format: "Ia",
        code: 89,
    },
    StdOption {
        name: "client-last-transaction-time",
        format: "L",
        code: 91,
    },
    StdOption {
        name: "associated-ip",
        format: "Ia",
        code: 92,
    },
    StdOption {
        name: "pxe-system-type",
        format: "Sa",
        code: 93,
    },
    StdOption {
        name: "pxe-interface-id",
        format: "BBB",
        code: 94,
    },
    StdOption {
        name: "pxe-client-id",
        format: "BX",
        code: 97,
    },
    StdOption {
        name: "uap-servers",
        format: "t",
        code: 98,
    },
    StdOption {
        name: "geoconf-civic",
        format: "X",
        code: 99,
    },
    StdOption {
        name: "pcode",
        format: "t",
        code: 100,
    },
    StdOption {
        name: "tcode",
        format: "t",
        code: 101,
    },
    StdOption {
        name: "v6-only-preferred",
        format: "L",
        code: 108,
    },
    StdOption {
        name: "netinfo-server-address",
        format: "Ia",
        code: 112,
    },
    StdOption {
        name: "netinfo-server-tag",
        format: "t",
        code: 113,
    },
    StdOption {
        name: "default-url",
        format: "t",
        code: 114,
    },
    StdOption {
        name: "auto-config",
        format: "B",
        code: 116,
    },
    StdOption {
        name: "name-service-search",
        format: "Sa",
        code: 117,
    },
    StdOption {
        name: "subnet-selection",
        format: "I",
        code: 118,
    },
    StdOption {
        name: "domain-search",
        format: "Dc",
        code: 119,
    },
    StdOption {
        name: "vivco",
        format: "Evendor-class.",
        code: 124,
    },
    StdOption {
        name: "vivso",
        format: "Evendor.",
        code: 125,
    },
    StdOption {
        name: "pxe-undefined-1",
        format: "X",
        code: 128,
    },
    StdOption {
        name: "pxe-undefined-2",
        format: "X",
        code: 129,
    },
    StdOption {
        name: "pxe-undefined-3",
        format: "X",
        code: 130,
    },
    StdOption {
        name: "pxe-undefined-4",
        format: "X",
        code: 131,
    },
    StdOption {
        name: "pxe-undefined-5",
        format: "X",
        code: 132,
    },
    StdOption {
        name: "pxe-undefined-6",
        format: "X",
        code: 133,
    },
    StdOption {
        name: "pxe-undefined-7",
        format: "X",
        code: 134,
    },
    StdOption {
        name: "pxe-undefined-8",
        format: "X",
        code: 135,
    },
    StdOption {
        name: "pana-agent",
        format: "Ia",
        code: 136,
    },
    StdOption {
        name: "v4-lost",
        format: "d",
        code: 137,
    },
    StdOption {
        name: "capwap-ac-v4",
        format: "Ia",
        code: 138,
    },
    StdOption {
        name: "sip-ua-cs-domains",
        format: "Dc",
        code: 141,
    },
    StdOption {
        name: "ipv4-address-andsf",
        format: "IA",
        code: 142,
    },
    StdOption {
        name: "rdnss-selection",
        format: "BIID",
        code: 146,
    },
    StdOption {
        name: "tftp-server-address",
        format: "Ia",
        code: 150,
    },
    StdOption {
        name: "v4-portparams",
        format: "BBS",
        code: 159,
    },
    StdOption {
        name: "v4-captive-portal",
        format: "t",
        code: 160,
    },
    StdOption {
        name: "pxelinux-magic",
        format: "BBBB",
        code: 208,
    },
    StdOption {
        name: "loader-configfile",
        format: "t",
        code: 209,
    },
    StdOption {
        name: "loader-pathprefix",
        format: "t",
        code: 210,
    },
    StdOption {
        name: "loader-reboottime",
        format: "L",
        code: 211,
    },
    StdOption {
        name: "option-6rd",
        format: "BB6Ia",
        code: 212,
    },
    StdOption {
        name: "v4-access-domain",
        format: "d",
        code: 213,
    },
];

/// The server parameters (space `server`): `default-lease-time`, `filename`, ...
pub(crate) const SERVER: &[StdOption] = &[
    StdOption {
        name: "default-lease-time",
        format: "T",
        code: 1,
    },
    StdOption {
        name: "max-lease-time",
        format: "T",
        code: 2,
    },
    StdOption {
        name: "min-lease-time",
        format: "T",
        code: 3,
    },
    StdOption {
        name: "dynamic-bootp-lease-cutoff",
        format: "T",
        code: 4,
    },
    StdOption {
        name: "dynamic-bootp-lease-length",
        format: "L",
        code: 5,
    },
    StdOption {
        name: "boot-unknown-clients",
        format: "f",
        code: 6,
    },
    StdOption {
        name: "dynamic-bootp",
        format: "f",
        code: 7,
    },
    StdOption {
        name: "allow-bootp",
        format: "f",
        code: 8,
    },
    StdOption {
        name: "allow-booting",
        format: "f",
        code: 9,
    },
    StdOption {
        name: "one-lease-per-client",
        format: "f",
        code: 10,
    },
    StdOption {
        name: "get-lease-hostnames",
        format: "f",
        code: 11,
    },
    StdOption {
        name: "use-host-decl-names",
        format: "f",
        code: 12,
    },
    StdOption {
        name: "use-lease-addr-for-default-route",
        format: "f",
        code: 13,
    },
    StdOption {
        name: "min-secs",
        format: "B",
        code: 14,
    },
    StdOption {
        name: "filename",
        format: "t",
        code: 15,
    },
    StdOption {
        name: "server-name",
        format: "t",
        code: 16,
    },
    StdOption {
        name: "next-server",
        format: "I",
        code: 17,
    },
    StdOption {
        name: "authoritative",
        format: "f",
        code: 18,
    },
    StdOption {
        name: "vendor-option-space",
        format: "U",
        code: 19,
    },
    StdOption {
        name: "always-reply-rfc1048",
        format: "f",
        code: 20,
    },
    StdOption {
        name: "site-option-space",
        format: "X",
        code: 21,
    },
    StdOption {
        name: "always-broadcast",
        format: "f",
        code: 22,
    },
    StdOption {
        name: "ddns-domainname",
        format: "t",
        code: 23,
    },
    StdOption {
        name: "ddns-hostname",
        format: "t",
        code: 24,
    },
    StdOption {
        name: "ddns-rev-domainname",
        format: "t",
        code: 25,
    },
    StdOption {
        name: "lease-file-name",
        format: "t",
        code: 26,
    },
    StdOption {
        name: "pid-file-name",
        format: "t",
        code: 27,
    },
    StdOption {
        name: "duplicates",
        format: "f",
        code: 28,
    },
    StdOption {
        name: "declines",
        format: "f",
        code: 29,
    },
    StdOption {
        name: "ddns-updates",
        format: "f",
        code: 30,
    },
    StdOption {
        name: "omapi-port",
        format: "S",
        code: 31,
    },
    StdOption {
        name: "local-port",
        format: "S",
        code: 32,
    },
    StdOption {
        name: "limited-broadcast-address",
        format: "I",
        code: 33,
    },
    StdOption {
        name: "remote-port",
        format: "S",
        code: 34,
    },
    StdOption {
        name: "local-address",
        format: "I",
        code: 35,
    },
    StdOption {
        name: "omapi-key",
        format: "k",
        code: 36,
    },
    StdOption {
        name: "stash-agent-options",
        format: "f",
        code: 37,
    },
    StdOption {
        name: "ddns-ttl",
        format: "T",
        code: 38,
    },
    StdOption {
        name: "ddns-update-style",
        format: "Nddns-styles.",
        code: 39,
    },
    StdOption {
        name: "client-updates",
        format: "f",
        code: 40,
    },
    StdOption {
        name: "update-optimization",
        format: "f",
        code: 41,
    },
    StdOption {
        name: "ping-check",
        format: "f",
        code: 42,
    },
    StdOption {
        name: "update-static-leases",
        format: "f",
        code: 43,
    },
    StdOption {
        name: "log-facility",
        format: "Nsyslog-facilities.",
        code: 44,
    },
    StdOption {
        name: "do-forward-updates",
        format: "f",
        code: 45,
    },
    StdOption {
        name: "ping-timeout",
        format: "T",
        code: 46,
    },
    StdOption {
        name: "infinite-is-reserved",
        format: "f",
        code: 47,
    },
    StdOption {
        name: "update-conflict-detection",
        format: "f",
        code: 48,
    },
    StdOption {
        name: "leasequery",
        format: "f",
        code: 49,
    },
    StdOption {
        name: "adaptive-lease-time-threshold",
        format: "B",
        code: 50,
    },
    StdOption {
        name: "do-reverse-updates",
        format: "f",
        code: 51,
    },
    StdOption {
        name: "fqdn-reply",
        format: "f",
        code: 52,
    },
    StdOption {
        name: "preferred-lifetime",
        format: "T",
        code: 53,
    },
    StdOption {
        name: "dhcpv6-lease-file-name",
        format: "t",
        code: 54,
    },
    StdOption {
        name: "dhcpv6-pid-file-name",
        format: "t",
        code: 55,
    },
    StdOption {
        name: "limit-addrs-per-ia",
        format: "L",
        code: 56,
    },
    StdOption {
        name: "limit-prefs-per-ia",
        format: "L",
        code: 57,
    },
    StdOption {
        name: "delayed-ack",
        format: "S",
        code: 58,
    },
    StdOption {
        name: "max-ack-delay",
        format: "L",
        code: 59,
    },
    StdOption {
        name: "dhcp-cache-threshold",
        format: "B",
        code: 78,
    },
    StdOption {
        name: "dont-use-fsync",
        format: "f",
        code: 79,
    },
    StdOption {
        name: "ddns-local-address4",
        format: "I",
        code: 80,
    },
    StdOption {
        name: "ddns-local-address6",
        format: "6",
        code: 81,
    },
    StdOption {
        name: "ignore-client-uids",
        format: "f",
        code: 82,
    },
    StdOption {
        name: "log-threshold-low",
        format: "B",
        code: 83,
    },
    StdOption {
        name: "log-threshold-high",
        format: "B",
        code: 84,
    },
    StdOption {
        name: "echo-client-id",
        format: "f",
        code: 85,
    },
    StdOption {
        name: "server-id-check",
        format: "f",
        code: 86,
    },
    StdOption {
        name: "prefix-length-mode",
        format: "Nprefix_length_modes.",
        code: 87,
    },
    StdOption {
        name: "dhcpv6-set-tee-times",
        format: "f",
        code: 88,
    },
    StdOption {
        name: "abandon-lease-time",
        format: "T",
        code: 89,
    },
    StdOption {
        name: "use-eui-64",
        format: "f",
        code: 90,
    },
    StdOption {
        name: "persist-eui-64-leases",
        format: "f",
        code: 91,
    },
    StdOption {
        name: "check-secs-byte-order",
        format: "f",
        code: 92,
    },
    StdOption {
        name: "ddns-dual-stack-mixed-mode",
        format: "f",
        code: 93,
    },
    StdOption {
        name: "ddns-guard-id-must-match",
        format: "f",
        code: 94,
    },
    StdOption {
        name: "ddns-other-guard-is-dynamic",
        format: "f",
        code: 95,
    },
    StdOption {
        name: "release-on-roam",
        format: "f",
        code: 96,
    },
    StdOption {
        name: "local-address6",
        format: "6",
        code: 97,
    },
    StdOption {
        name: "bind-local-address6",
        format: "f",
        code: 98,
    },
    StdOption {
        name: "ping-cltt-secs",
        format: "T",
        code: 99,
    },
    StdOption {
        name: "ping-timeout-ms",
        format: "T",
        code: 100,
    },
];

/// Relay agent information sub-options (space `agent`).
pub(crate) const AGENT: &[StdOption] = &[
    StdOption {
        name: "circuit-id",
        format: "X",
        code: 1,
    },
    StdOption {
        name: "remote-id",
        format: "X",
        code: 2,
    },
    StdOption {
        name: "agent-id",
        format: "I",
        code: 3,
    },
    StdOption {
        name: "DOCSIS-device-class",
        format: "L",
        code: 4,
    },
    StdOption {
        name: "link-selection",
        format: "I",
        code: 5,
    },
    StdOption {
        name: "relay-port",
        format: "Z",
        code: 19,
    },
];

/// Client FQDN sub-options (space `fqdn`).
pub(crate) const FQDN: &[StdOption] = &[
    StdOption {
        name: "no-client-update",
        format: "f",
        code: 1,
    },
    StdOption {
        name: "server-update",
        format: "f",
        code: 2,
    },
    StdOption {
        name: "encoded",
        format: "f",
        code: 3,
    },
    StdOption {
        name: "rcode1",
        format: "B",
        code: 4,
    },
    StdOption {
        name: "rcode2",
        format: "B",
        code: 5,
    },
    StdOption {
        name: "hostname",
        format: "t",
        code: 6,
    },
    StdOption {
        name: "domainname",
        format: "t",
        code: 7,
    },
    StdOption {
        name: "fqdn",
        format: "t",
        code: 8,
    },
];

/// NetWare/IP sub-options (space `nwip`).
pub(crate) const NWIP: &[StdOption] = &[
    StdOption {
        name: "illegal-1",
        format: "",
        code: 1,
    },
    StdOption {
        name: "illegal-2",
        format: "",
        code: 2,
    },
    StdOption {
        name: "illegal-3",
        format: "",
        code: 3,
    },
    StdOption {
        name: "illegal-4",
        format: "",
        code: 4,
    },
    StdOption {
        name: "nsq-broadcast",
        format: "f",
        code: 5,
    },
    StdOption {
        name: "preferred-dss",
        format: "IA",
        code: 6,
    },
    StdOption {
        name: "nearest-nwip-server",
        format: "IA",
        code: 7,
    },
    StdOption {
        name: "autoretries",
        format: "B",
        code: 8,
    },
    StdOption {
        name: "autoretry-secs",
        format: "B",
        code: 9,
    },
    StdOption {
        name: "nwip-1-1",
        format: "f",
        code: 10,
    },
    StdOption {
        name: "primary-dss",
        format: "I",
        code: 11,
    },
];
