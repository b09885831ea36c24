//! Answer-file templates (minijinja): the built-in ones and the operator's files.
//!
//! Templates are compiled when the inventory loads, so a syntax error is a load
//! error with the template's file and line, not a failure at install time.

use minijinja::{Environment, UndefinedBehavior};
use serde::Serialize;

/// Names of the built-in templates, by installer family.
pub(crate) const BUILTIN_KICKSTART: &str = "builtin:kickstart";
pub(crate) const BUILTIN_PRESEED: &str = "builtin:preseed";
pub(crate) const BUILTIN_AUTOINSTALL: &str = "builtin:autoinstall";

/// The compiled templates.
#[derive(Debug, Clone)]
pub(crate) struct Templates {
    env: Environment<'static>,
}

/// A template that failed to compile or render, with its place.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("template {name}{}: {message}", line.map(|l| format!(" line {l}")).unwrap_or_default())]
pub struct TemplateError {
    pub name: String,
    pub line: Option<usize>,
    pub message: String,
}

impl TemplateError {
    fn from_minijinja(name: &str, err: &minijinja::Error) -> Self {
        let mut message = err.kind().to_string();
        if let Some(detail) = err.detail() {
            message = format!("{message}: {detail}");
        }
        TemplateError {
            name: err.name().unwrap_or(name).to_owned(),
            line: err.line(),
            message,
        }
    }
}

impl Templates {
    pub(crate) fn new() -> Templates {
        let mut env = Environment::new();
        // A misspelt variable must fail the render, never produce an empty field.
        env.set_undefined_behavior(UndefinedBehavior::SemiStrict);
        match minijinja::syntax::SyntaxConfig::builder()
            .keep_trailing_newline(true)
            .build()
        {
            Ok(syntax) => env.set_syntax(syntax),
            Err(e) => panic!("default syntax with kept newlines is valid: {e}"),
        }
        let mut t = Templates { env };
        for (name, src) in [
            (
                BUILTIN_KICKSTART,
                include_str!("../templates/kickstart.ks.j2"),
            ),
            (BUILTIN_PRESEED, include_str!("../templates/preseed.cfg.j2")),
            (
                BUILTIN_AUTOINSTALL,
                include_str!("../templates/autoinstall.yaml.j2"),
            ),
        ] {
            // The built-ins are tested to compile; a failure here is a bug in this crate.
            if let Err(e) = t.add(name, src.to_owned()) {
                panic!("built-in template does not compile: {e}");
            }
        }
        t
    }

    pub(crate) fn add(&mut self, name: &str, source: String) -> Result<(), TemplateError> {
        self.env
            .add_template_owned(name.to_owned(), source)
            .map_err(|e| TemplateError::from_minijinja(name, &e))
    }

    pub(crate) fn contains(&self, name: &str) -> bool {
        self.env.get_template(name).is_ok()
    }

    /// Renders a whole file or fails; never returns half a file.
    pub(crate) fn render(&self, name: &str, ctx: &impl Serialize) -> Result<String, TemplateError> {
        let tmpl = self
            .env
            .get_template(name)
            .map_err(|e| TemplateError::from_minijinja(name, &e))?;
        tmpl.render(minijinja::value::Serde(ctx))
            .map_err(|e| TemplateError::from_minijinja(name, &e))
    }
}

/// The built-in template for a family.
pub(crate) fn builtin_for(family: crate::inventory::Family) -> &'static str {
    match family {
        crate::inventory::Family::Redhat => BUILTIN_KICKSTART,
        crate::inventory::Family::Debian => BUILTIN_PRESEED,
        crate::inventory::Family::Ubuntu => BUILTIN_AUTOINSTALL,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtins_compile_and_syntax_errors_have_lines() {
        let mut t = Templates::new();
        assert!(t.contains(BUILTIN_PRESEED));
        let err = t
            .add("x.j2", "line one\n{% if %}\n".to_owned())
            .expect_err("bad syntax");
        assert_eq!(err.line, Some(2));
        assert_eq!(err.name, "x.j2");
    }

    #[test]
    fn render_error_names_template_and_line() {
        let mut t = Templates::new();
        t.add("y.j2", "a\nb {{ 1 + }}\n".to_owned())
            .expect_err("compile error");
        t.add(
            "z.j2",
            "a\n{{ x.y.z | upper }}\n{{ [1][5] + 1 }}\n".to_owned(),
        )
        .expect("compiles");
        let err = t
            .render("z.j2", &serde_json::json!({}))
            .expect_err("runtime error");
        assert_eq!(err.name, "z.j2");
        assert!(err.line.is_some(), "{err}");
    }
}
