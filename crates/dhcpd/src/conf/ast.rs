//! The typed syntax tree of a `dhcpd.conf`. It keeps every scope as written (global, shared
//! network, subnet, pool, class, group, host) with its statements in order, so an evaluator can
//! later compute a packet's effective parameters scope by scope; see STATUS.md for that plan.

use std::net::Ipv4Addr;

/// Where a construct starts.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Loc {
    /// File name as given.
    pub file: String,
    /// 1-based line.
    pub line: u32,
    /// 1-based byte column.
    pub col: u32,
}

/// A parsed configuration.
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// The global scope.
    pub root: Scope,
    /// Option spaces declared with `option space`.
    pub spaces: Vec<SpaceDecl>,
    /// Option definitions (`option NAME code N = TYPE;`), in order.
    pub option_defs: Vec<OptionDef>,
    /// Accepted statements we do not act on, one entry per keyword (first use).
    pub unsupported: Vec<Unsupported>,
    /// `key NAME { algorithm …; secret …; }` blocks, in order (OMAPI's `omapi-key` names one).
    pub keys: Vec<KeyDecl>,
    /// Every option space and definition known at the end of the file (built-in ones and
    /// those the file declared), for evaluating `option NAME` expressions.
    pub registry: super::options::Registry,
}

/// A scope body: statements and nested declarations in source order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Scope {
    /// Items in order.
    pub items: Vec<Item>,
}

/// One thing inside a scope.
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    /// An executable statement (option, parameter, if, switch, set, ...).
    Stmt(Loc, Stmt),
    /// `authoritative;` / `not authoritative;`.
    Authoritative(Loc, bool),
    /// A nested declaration.
    Decl(Loc, Decl),
}

/// Declarations that open a scope or define an address range.
#[derive(Debug, Clone, PartialEq)]
pub enum Decl {
    /// `shared-network NAME { ... }`.
    SharedNetwork { name: String, body: Scope },
    /// `subnet NET netmask MASK { ... }`.
    Subnet {
        net: Ipv4Addr,
        mask: Ipv4Addr,
        body: Scope,
    },
    /// `pool { ... }` (permits are inside `body` as `Permit` statements).
    Pool { permits: Vec<Permit>, body: Scope },
    /// `range [dynamic-bootp] LOW [HIGH];`.
    Range {
        dynamic_bootp: bool,
        low: Ipv4Addr,
        high: Ipv4Addr,
    },
    /// `host NAME { ... }`.
    Host(Host),
    /// `group [NAME] { ... }`.
    Group(GroupDecl),
    /// `class "NAME" { ... }`.
    Class(Class),
    /// `subclass "PARENT" DATA [{ ... } | ;]`.
    Subclass {
        parent: String,
        key: Vec<u8>,
        body: Option<Scope>,
    },
    /// `include "FILE";` (already expanded: its items follow in the same scope).
    Include { path: String },
}

/// `allow` / `deny` lines inside a pool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Permit {
    /// `true` for allow.
    pub allow: bool,
    /// What is permitted.
    pub what: PermitKind,
}

/// Pool permit kinds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PermitKind {
    /// `unknown clients` / `unknown-clients`.
    UnknownClients,
    /// `known clients` / `known-clients`.
    KnownClients,
    /// `authenticated clients`.
    Authenticated,
    /// `unauthenticated clients`.
    Unauthenticated,
    /// `all clients`.
    All,
    /// `dynamic bootp clients`.
    DynamicBootp,
    /// `members of "CLASS"`.
    MembersOf(String),
    /// `after DATE` (kept as text).
    After(String),
}

/// A host declaration.
#[derive(Debug, Clone, PartialEq)]
pub struct Host {
    /// Name after `host`.
    pub name: String,
    /// `hardware TYPE aa:bb:..` (type code, address).
    pub hardware: Option<(u8, Vec<u8>)>,
    /// `fixed-address` entries: addresses or names to resolve.
    pub fixed_addresses: Vec<HostAddr>,
    /// `uid` / `option dhcp-client-identifier` bytes.
    pub uid: Option<Vec<u8>>,
    /// `host-identifier option NAME DATA` (space.name, value).
    pub host_identifier: Option<(String, OptionValue)>,
    /// `group NAME;` reference.
    pub group: Option<String>,
    /// Statements inside the host.
    pub body: Scope,
    /// `dynamic;`: made over OMAPI (the records ISC appends to dhcpd.leases).
    pub dynamic: bool,
    /// `deleted;`: the host of this name is gone (a record of an OMAPI delete).
    pub deleted: bool,
}

/// A `group [NAME] { ... }` declaration.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupDecl {
    /// Its name, when it has one (hosts name it in `group NAME;`).
    pub name: Option<String>,
    /// Its statements and declarations.
    pub body: Scope,
    /// `dynamic;`: made over OMAPI (the records ISC appends to dhcpd.leases).
    pub dynamic: bool,
    /// `deleted;`: the group of this name is gone (a record of an OMAPI remove).
    pub deleted: bool,
}

/// An address or a DNS name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostAddr {
    /// Dotted quad.
    Ip(Ipv4Addr),
    /// A name resolved at load time by ISC.
    Name(String),
}

/// A class declaration.
#[derive(Debug, Clone, PartialEq)]
pub struct Class {
    /// Name.
    pub name: String,
    /// `match if EXPR;`.
    pub match_if: Option<Expr>,
    /// `match EXPR;` or `spawn with EXPR;` (submatch expression).
    pub submatch: Option<Expr>,
    /// Whether `spawn with` was used.
    pub spawn: bool,
    /// `lease limit N;`.
    pub lease_limit: Option<u32>,
    /// Statements inside the class.
    pub body: Scope,
}

/// How an option statement combines with inherited values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OptionOp {
    /// `option` / `supersede` / a bare parameter.
    Supersede,
    /// `default`.
    Default,
    /// `prepend`.
    Prepend,
    /// `append`.
    Append,
    /// `send`.
    Send,
}

/// Executable statements.
#[derive(Debug, Clone, PartialEq)]
pub enum Stmt {
    /// An option or server parameter: `option routers 10.0.0.1;`, `filename "x";`.
    Option {
        op: OptionOp,
        space: String,
        name: String,
        code: u32,
        value: OptionValue,
    },
    /// `allow|deny|ignore KEYWORD;` outside pools (server flag with value 1, 0 or 2).
    AllowDeny { what: String, value: u8 },
    /// `if COND { ... } elsif ... else { ... }`.
    If {
        cond: Expr,
        then: Vec<Stmt>,
        otherwise: Vec<Stmt>,
    },
    /// `switch (EXPR) { case ...: ... default: ... }`.
    Switch { expr: Expr, body: Vec<Stmt> },
    /// `case EXPR:`.
    Case(Expr),
    /// `default:` inside a switch.
    DefaultCase,
    /// `set NAME = EXPR;`.
    Set { name: String, value: Expr },
    /// `define NAME = EXPR;` or a function definition.
    Define { name: String, value: Expr },
    /// `unset NAME;`.
    Unset(String),
    /// A bare expression statement: `foo;` (a variable reference ISC evaluates and drops).
    Eval(Expr),
    /// `add "CLASS";`.
    Add(String),
    /// `break;`.
    Break,
    /// `return EXPR;`.
    Return(Expr),
    /// `log (PRIORITY, EXPR);`.
    Log { priority: String, expr: Expr },
    /// `on commit|release|expiry|transmission [or ...] { ... }`; an empty body (also
    /// `on EVENT;`) clears the lease's handler for those events.
    On {
        events: Vec<String>,
        body: Vec<Stmt>,
    },
    /// `execute ("PROGRAM", ARG...);`: the program and its data-expression arguments.
    Execute { command: Vec<u8>, args: Vec<Expr> },
    /// `failover peer "NAME" { … }` (its role kept) or a pool's `failover peer "NAME";`.
    Failover(Failover),
    /// Parsed but not acted on (zone, key, ...): keyword and raw text.
    Unsupported { keyword: String },
}

/// The failover statements this server acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failover {
    /// `failover peer "NAME" { primary; … }`: `primary` is `None` when the block says
    /// neither `primary` nor `secondary`.
    Peer {
        /// The peer's name.
        name: String,
        /// `primary;` (true) or `secondary;` (false).
        primary: Option<bool>,
    },
    /// A pool's `failover peer "NAME";`.
    Pool {
        /// The peer's name.
        peer: String,
    },
}

/// The value of an option statement.
#[derive(Debug, Clone, PartialEq)]
pub enum OptionValue {
    /// Typed atoms per the option's format.
    Atoms(Vec<Atom>),
    /// `option X = EXPR;`.
    Expr(Expr),
    /// `option X;` with no value.
    Empty,
}

/// One typed value in an option.
#[derive(Debug, Clone, PartialEq)]
pub enum Atom {
    /// IPv4 address.
    Ip(Ipv4Addr),
    /// DNS name to resolve to an address.
    HostName(String),
    /// IPv6 address (kept as text).
    Ip6(String),
    /// Unsigned or signed integer, with its width in bits and signedness.
    Int { value: i64, bits: u8, signed: bool },
    /// Lease time (`infinite` is `u32::MAX`).
    Time(u32),
    /// Boolean: 0, 1 or 2 (`ignore`).
    Bool(u8),
    /// Text (`t`): bytes of the string.
    Text(Vec<u8>),
    /// Data (`X`): a string or colon-separated hex.
    Data(Vec<u8>),
    /// An identifier (`U`), e.g. an option space name.
    Ident(String),
    /// An enumeration value (`N`): name and numeric value.
    Enum(String, u8),
    /// A domain list (`D`), optionally compressed.
    DomainList(Vec<String>, bool),
    /// A single domain name (`d`).
    DomainName(String),
    /// A key name (`k`).
    Key(String),
}

/// Expressions, mirroring ISC's `expr_*` operators.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// `check "class"`.
    Check(String),
    /// `not E`.
    Not(Box<Expr>),
    /// `exists SPACE.NAME`.
    Exists(String, String),
    /// `known`.
    Known,
    /// `static`.
    Static,
    /// `substring (E, off, len)`.
    Substring(Box<Expr>, Box<Expr>, Box<Expr>),
    /// `suffix (E, len)`.
    Suffix(Box<Expr>, Box<Expr>),
    /// `lcase (E)`.
    Lcase(Box<Expr>),
    /// `ucase (E)`.
    Ucase(Box<Expr>),
    /// `concat (E, E, ...)`.
    Concat(Vec<Expr>),
    /// `binary-to-ascii (base, width, sep, E)`.
    BinaryToAscii(Box<Expr>, Box<Expr>, Box<Expr>, Box<Expr>),
    /// `reverse (width, E)`.
    Reverse(Box<Expr>, Box<Expr>),
    /// `pick-first-value (E, ...)`.
    PickFirstValue(Vec<Expr>),
    /// `option SPACE.NAME`.
    Option(String, String),
    /// `config-option SPACE.NAME`.
    ConfigOption(String, String),
    /// `hardware`.
    Hardware,
    /// `leased-address`.
    LeasedAddress,
    /// `client-state`.
    ClientState,
    /// `filename`.
    Filename,
    /// `server-name`.
    ServerName,
    /// `lease-time`.
    LeaseTime,
    /// `null`.
    Null,
    /// `host-decl-name`.
    HostDeclName,
    /// `packet (off, len)`.
    Packet(Box<Expr>, Box<Expr>),
    /// A string or hex constant.
    ConstData(Vec<u8>),
    /// A number.
    ConstInt(i64),
    /// `extract-int (E, bits)`.
    ExtractInt(Box<Expr>, u8),
    /// `encode-int (E, bits)`.
    EncodeInt(Box<Expr>, u8),
    /// `defined (NAME)`.
    VariableExists(String),
    /// A variable reference.
    Variable(String),
    /// `NAME (args)`.
    FunCall(String, Vec<Expr>),
    /// `gethostname ()`.
    GetHostName,
    /// `gethostbyname ("name")`.
    HostLookup(String),
    /// `v6relay (n, E)`.
    V6Relay(Box<Expr>, Box<Expr>),
    /// A function body from `define f (args) { ... }`.
    Function(Vec<String>, Vec<Stmt>),
    /// A binary operation.
    Binary(BinOp, Box<Expr>, Box<Expr>),
}

/// Binary operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    /// `=`.
    Equal,
    /// `!=`.
    NotEqual,
    /// `~=`.
    RegexMatch,
    /// `~~` (case-insensitive).
    IRegexMatch,
    /// `and`.
    And,
    /// `or`.
    Or,
    /// `+`.
    Add,
    /// `-`.
    Subtract,
    /// `*`.
    Multiply,
    /// `/`.
    Divide,
    /// `%`.
    Remainder,
    /// `&`.
    BinaryAnd,
    /// `|`.
    BinaryOr,
    /// `^`.
    BinaryXor,
}

/// `option space NAME [code width N] [length width N] [hash size N];`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpaceDecl {
    /// Space name.
    pub name: String,
    /// Code width in bytes (1, 2, 4).
    pub code_width: u8,
    /// Length width in bytes (1, 2).
    pub length_width: u8,
}

/// `option [SPACE.]NAME code N = TYPE;`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptionDef {
    /// Space.
    pub space: String,
    /// Name.
    pub name: String,
    /// Code.
    pub code: u32,
    /// ISC format string (see `format.rs`).
    pub format: String,
}

/// A `key` block: its name and the texts of its `algorithm` and `secret` statements
/// (token texts joined, so `HMAC-MD5.SIG-ALG.REG.INT.` and an unquoted base64 secret come
/// out whole).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyDecl {
    /// The key's name (quotes removed).
    pub name: String,
    /// `algorithm`, as written.
    pub algorithm: Option<String>,
    /// `secret`, as written (base64).
    pub secret: Option<String>,
    /// Where the block starts.
    pub loc: Loc,
}

/// A statement we accept and keep but do not act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsupported {
    /// The keyword, e.g. `ddns-update-style`, `failover peer`, `on commit`.
    pub keyword: String,
    /// Where it was first used.
    pub loc: Loc,
}
