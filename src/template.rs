//! Templates: minijinja (Jinja2 syntax, strict undefined) over the embedded assets.
use anyhow::{anyhow, Context, Result};
use minijinja::{Environment, UndefinedBehavior};

fn env() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_keep_trailing_newline(true);
    env.set_trim_blocks(true);
    env.set_lstrip_blocks(true);
    env.set_loader(|name| Ok(crate::assets::asset(name).map(str::to_string)));
    env.add_filter(
        "to_json",
        |v: minijinja::Value| -> Result<String, minijinja::Error> {
            serde_json::to_string(&v).map_err(|e| {
                minijinja::Error::new(minijinja::ErrorKind::InvalidOperation, e.to_string())
            })
        },
    );
    env.add_filter("yaml_str", |s: String| -> String {
        // Quote a string safely for YAML (JSON strings are valid YAML scalars).
        serde_json::to_string(&s).unwrap_or_default()
    });
    env
}

/// Render the embedded template `path` (relative to `assets/`) with `ctx`.
pub fn render(path: &str, ctx: &serde_json::Value) -> Result<String> {
    let env = env();
    let tmpl = env
        .get_template(path)
        .map_err(|e| anyhow!("template `{path}`: {e}"))?;
    tmpl.render(ctx)
        .map_err(|e| anyhow!("{e:#}"))
        .with_context(|| format!("rendering template `{path}`"))
}

/// Render a template given as text (tests, inline snippets).
pub fn render_str(src: &str, ctx: &serde_json::Value) -> Result<String> {
    let env = env();
    env.render_str(src, ctx).map_err(|e| anyhow!("{e:#}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn undefined_variable_is_an_error() {
        let e = render_str("x = {{ nope }}", &json!({})).unwrap_err();
        assert!(e.to_string().contains("undefined"), "{e}");
    }

    #[test]
    fn renders_values() {
        assert_eq!(
            render_str("port={{ p }}", &json!({"p": 5432})).unwrap(),
            "port=5432"
        );
    }
}
