//! The settings shown: `tug config` as text (in the config file's syntax, each value's
//! origin in a comment) and as JSON, and `-v`'s one line.

use super::origin::Origin;
use super::table::Settings;

/// A `key = value` line with its origin in a comment.
fn line(key: &str, value: &str, origin: &Origin) -> String {
    format!("{:<28} # {origin}\n", format!("{key} = {value}"))
}

impl Settings {
    /// One line for `-v`: every general setting and its origin.
    pub fn summary(&self) -> String {
        self.rows()
            .iter()
            .map(|r| format!("{}={} ({})", r.key, r.shown, r.origin))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// What `tug config` prints.
    pub fn text(&self) -> String {
        let mut out = String::new();
        match (&self.file, self.file_found) {
            (Some(p), true) => out.push_str(&format!("# config file: {}\n", p.display())),
            (Some(p), false) => {
                out.push_str(&format!("# config file: {} (not found)\n", p.display()))
            }
            (None, _) => out.push_str("# config file: none (no HOME)\n"),
        }
        for r in self.rows() {
            let value = match r.quoted {
                true => format!("\"{}\"", r.shown),
                false => r.shown,
            };
            // An unset value has no TOML: said in a comment, so the text reads back as a
            // config file.
            let key = match r.json.is_null() {
                true => format!("# {}", r.key),
                false => r.key.to_owned(),
            };
            out.push_str(&line(&key, &value, r.origin));
        }
        for (name, r) in &self.registries {
            out.push_str(&format!("\n[registries.\"{name}\"]\n"));
            let ca = r
                .ca_file
                .value
                .as_ref()
                .map_or_else(|| "none".to_owned(), |p| format!("\"{}\"", p.display()));
            let mirror = r
                .mirror
                .value
                .as_ref()
                .map_or_else(|| "none".to_owned(), |m| format!("\"{m}\""));
            // (Unset: in a comment, as above.)
            let unset = |key: &str, set: bool| match set {
                true => key.to_owned(),
                false => format!("# {key}"),
            };
            let ca_key = unset("ca_file", r.ca_file.value.is_some());
            out.push_str(&line(&ca_key, &ca, &r.ca_file.origin));
            out.push_str(&line(
                "insecure",
                &r.insecure.value.to_string(),
                &r.insecure.origin,
            ));
            out.push_str(&line(
                "plain_http",
                &r.plain_http.value.to_string(),
                &r.plain_http.origin,
            ));
            let mirror_key = unset("mirror", r.mirror.value.is_some());
            out.push_str(&line(&mirror_key, &mirror, &r.mirror.origin));
        }
        out
    }

    /// What `tug config --json` prints.
    pub fn json(&self) -> serde_json::Value {
        let entry = |v: serde_json::Value, o: &Origin| {
            let mut e = o.json();
            e["value"] = v;
            e
        };
        let settings: serde_json::Map<String, serde_json::Value> = self
            .rows()
            .into_iter()
            .map(|r| (r.key.to_owned(), entry(r.json, r.origin)))
            .collect();
        let registries: serde_json::Map<String, serde_json::Value> = self
            .registries
            .iter()
            .map(|(name, r)| {
                (
                    name.clone(),
                    serde_json::json!({
                        "ca_file": entry(serde_json::json!(r.ca_file.value), &r.ca_file.origin),
                        "insecure": entry(r.insecure.value.into(), &r.insecure.origin),
                        "plain_http": entry(r.plain_http.value.into(), &r.plain_http.origin),
                        "mirror": entry(serde_json::json!(r.mirror.value), &r.mirror.origin),
                    }),
                )
            })
            .collect();
        serde_json::json!({
            "config_file": self.file,
            "config_file_found": self.file_found,
            "settings": settings,
            "registries": registries,
        })
    }
}
