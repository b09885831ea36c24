//! Running compiled statements into an [`OptionState`]: options with their combining rules
//! (`default` only fills a gap, `append`/`prepend` join data), `if`/`switch` with ISC's
//! fall-through cases, variables, `add`, `log`, `on` (recorded as effects) and `execute`
//! (its argument vector built, not run: the shell runs it). [`Env::run_scope`] is ISC's
//! `execute_statements_in_scope`: a group's ancestors first, stopping at the limiting group
//! and everything above it, so inner scopes override outer ones.

use crate::conf::ast::OptionOp;
use crate::model::{Events, Exec, GroupId, Handler, OptVal};

use super::expr::{Bindings, Env, Val};
use super::state::OptionState;

/// Side effects of running statements, besides options and variables.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Effects {
    /// Classes named by `add` statements.
    pub added_classes: Vec<String>,
    /// Lines from `log` statements.
    pub logs: Vec<String>,
    /// `on` statements run, in order: the events and the handler they set (`None`: clear).
    pub on: Vec<(Events, Option<Handler>)>,
    /// `execute` statements run, in order, with their arguments evaluated.
    pub execs: Vec<ExecCall>,
}

/// An `execute` statement evaluated: the program and its arguments as `execvp` gets them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecCall {
    /// argv\[0\]: the program as written (looked up in `PATH`, no shell).
    pub program: Vec<u8>,
    /// The arguments, each up to its first NUL (ISC copies the data and NUL-terminates it);
    /// `Err(n)` when argument `n` (from 1) evaluated to NULL: ISC then runs nothing
    /// (`execute: bad arg N`).
    pub args: Result<Vec<Vec<u8>>, usize>,
}

impl ExecCall {
    /// The whole argument vector, argv\[0\] first (`None` for a call that is not run).
    pub fn argv(&self) -> Option<Vec<Vec<u8>>> {
        let args = self.args.as_ref().ok()?;
        let mut argv = Vec::with_capacity(args.len() + 1);
        argv.push(c_string(&self.program));
        argv.extend(args.iter().cloned());
        Some(argv)
    }
}

/// The bytes a C string made of `data` holds: up to the first NUL.
fn c_string(data: &[u8]) -> Vec<u8> {
    let end = data.iter().position(|b| *b == 0).unwrap_or(data.len());
    data[..end].to_vec()
}

/// How a statement list ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flow {
    Normal,
    Break,
    Return,
}

impl Env<'_> {
    /// Run a group's statements, outermost scope first, stopping below `limit` (the group
    /// `limit` and its ancestors were run already).
    pub fn run_scope(
        &self,
        group: GroupId,
        limit: Option<GroupId>,
        st: &mut OptionState,
        vars: &mut Bindings,
        fx: &mut Effects,
    ) {
        let mut chain = Vec::new();
        let mut g = Some(group);
        while let Some(id) = g {
            if limit.is_some_and(|l| self.cfg.is_within(l, id)) {
                break;
            }
            chain.push(id);
            g = self.cfg.groups.get(id).and_then(|x| x.parent);
            if chain.len() > self.cfg.groups.len() {
                break;
            }
        }
        for id in chain.into_iter().rev() {
            if let Some(grp) = self.cfg.groups.get(id) {
                self.run(&grp.stmts, st, vars, fx, 0);
            }
        }
    }

    /// Run a statement list.
    pub fn run_stmts(
        &self,
        stmts: &[Exec],
        st: &mut OptionState,
        vars: &mut Bindings,
        fx: &mut Effects,
    ) {
        self.run(stmts, st, vars, fx, 0);
    }

    /// Evaluate an `execute` statement's arguments, stopping at the first NULL as ISC does.
    pub fn exec_call(
        &self,
        program: &[u8],
        args: &[crate::conf::ast::Expr],
        vars: &Bindings,
        st: &OptionState,
    ) -> ExecCall {
        let mut values = Vec::with_capacity(args.len());
        for (i, a) in args.iter().enumerate() {
            match self.eval_data(a, vars, st) {
                Some(d) => values.push(c_string(&d)),
                None => {
                    return ExecCall {
                        program: program.to_vec(),
                        args: Err(i + 1),
                    };
                }
            }
        }
        ExecCall {
            program: program.to_vec(),
            args: Ok(values),
        }
    }

    fn run(
        &self,
        stmts: &[Exec],
        st: &mut OptionState,
        vars: &mut Bindings,
        fx: &mut Effects,
        depth: u32,
    ) -> Flow {
        if depth > 64 {
            return Flow::Return;
        }
        for s in stmts {
            match s {
                Exec::Opt {
                    op,
                    space,
                    code,
                    value,
                } => {
                    let v = match value {
                        OptVal::Const(b) => Some(b.clone()),
                        OptVal::Expr(e) => self.eval_data(e, vars, st),
                    };
                    let (space, code) = (*space, *code);
                    match (op, v) {
                        (OptionOp::Default, _) if st.has(space, code) => {}
                        (OptionOp::Append, Some(v)) => {
                            let mut old =
                                st.get(space, code).map(<[u8]>::to_vec).unwrap_or_default();
                            old.extend_from_slice(&v);
                            st.set(space, code, old);
                        }
                        (OptionOp::Prepend, Some(mut v)) => {
                            if let Some(old) = st.get(space, code) {
                                v.extend_from_slice(old);
                            }
                            st.set(space, code, v);
                        }
                        (_, Some(v)) => st.set(space, code, v),
                        (_, None) => st.remove(space, code),
                    }
                }
                Exec::If {
                    cond,
                    then,
                    otherwise,
                } => {
                    let branch = if self.eval_bool(cond, vars, st) == Some(true) {
                        then
                    } else {
                        otherwise
                    };
                    match self.run(branch, st, vars, fx, depth + 1) {
                        Flow::Normal => {}
                        f => return f,
                    }
                }
                Exec::Switch { expr, body } => {
                    let v = self.eval(expr, vars, st);
                    let start = body
                        .iter()
                        .position(|c| match c {
                            Exec::Case(e) => v.is_some() && self.eval(e, vars, st) == v,
                            _ => false,
                        })
                        .or_else(|| body.iter().position(|c| matches!(c, Exec::DefaultCase)));
                    if let Some(i) = start {
                        let rest = body.get(i + 1..).unwrap_or(&[]);
                        if self.run(rest, st, vars, fx, depth + 1) == Flow::Return {
                            return Flow::Return;
                        }
                    }
                }
                Exec::Case(_) | Exec::DefaultCase => {}
                Exec::Set(name, e) | Exec::Define(name, e) => match self.eval(e, vars, st) {
                    Some(v) => vars.set(name, v),
                    None => vars.unset(name),
                },
                Exec::Unset(name) => vars.unset(name),
                Exec::Add(c) => fx.added_classes.push(c.clone()),
                Exec::Break => return Flow::Break,
                Exec::Return(e) => {
                    let _ = self.eval(e, vars, st);
                    return Flow::Return;
                }
                Exec::Log(_priority, e) => {
                    if let Some(d) = self.eval_data(e, vars, st) {
                        fx.logs.push(String::from_utf8_lossy(&d).into_owned());
                    }
                }
                Exec::Eval(e) => {
                    let _: Option<Val> = self.eval(e, vars, st);
                }
                Exec::On(events, handler) => fx.on.push((*events, handler.clone())),
                Exec::Execute { program, args } => {
                    fx.execs.push(self.exec_call(program, args, vars, st));
                }
            }
        }
        Flow::Normal
    }
}
