//! `[database]` (Tocsin's `url`, or monasca-notification's `repo_driver`) and the sections the
//! drivers read (`[mysql]`, `[postgresql]`, `[orm]`): where the config database is, as one sqlx
//! URL. Its `Debug` and rendering mask the password.

use crate::config::{Error, Reader};

#[derive(Clone)]
pub struct DatabaseConfig {
    /// A sqlx URL (`mysql://`, `postgres://` or `sqlite://`); contains the password.
    pub url: String,
}

impl DatabaseConfig {
    pub fn read(r: &Reader) -> Result<DatabaseConfig, Error> {
        Ok(DatabaseConfig { url: database_url(r)? })
    }

    /// The URL with its password replaced, for logs and `check-config`.
    pub fn masked_url(&self) -> String {
        match url::Url::parse(&self.url) {
            Ok(mut url) if url.password().is_some() => {
                let _ = url.set_password(Some("****"));
                url.to_string()
            }
            _ => self.url.clone(),
        }
    }

    pub fn render(&self) -> Vec<(String, String)> {
        vec![("url".into(), self.masked_url())]
    }
}

impl std::fmt::Debug for DatabaseConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatabaseConfig").field("url", &self.masked_url()).finish()
    }
}

/// The database URL: `[database] url` when given, else built from `repo_driver` and its section,
/// as monasca-notification connects.
fn database_url(r: &Reader) -> Result<String, Error> {
    if let Some(url) = r.opt_string("database", "url") {
        return check_database_url(r, "database", "url", url);
    }
    let driver = r.string("database", "repo_driver", "mysql").to_ascii_lowercase();
        let build = |scheme: &str, section: &str, host: String, port: i64, user: String, password: String, db: String| {
        let mut url = url::Url::parse(&format!("{scheme}://localhost")).expect("static URL");
        url.set_host(Some(&host)).map_err(|e| r.invalid(section, "host", e.to_string()))?;
        // Checked: `port as u16` made port = 70000 connect to 4464.
        let port = u16::try_from(port).map_err(|_| r.invalid(section, "port", format!("must be at most 65535, found {port}")))?;
        let _ = url.set_port(Some(port));
        let _ = url.set_username(&user);
        let _ = url.set_password(Some(&password));
        url.set_path(&db);
        Ok::<_, Error>(url)
    };
    if driver.contains("postgres") {
        let url = build(
            "postgres",
            "postgresql",
            r.string("postgresql", "host", "127.0.0.1"),
            r.int("postgresql", "port", 5432, 1)?,
            r.string("postgresql", "user", "notification"),
            r.string("postgresql", "password", "password"),
            r.string("postgresql", "database", "mon"),
        )?;
        Ok(url.to_string())
    } else if driver.contains("orm") {
        let Some(url) = r.opt_string("orm", "url") else {
            return Err(r.invalid("database", "repo_driver", "the orm driver needs [orm] url"));
        };
        // SQLAlchemy URLs name a Python driver after '+' (mysql+pymysql://); sqlx only needs the
        // dialect.
        let (scheme, rest) = url.split_once("://").unwrap_or((&url, ""));
        let dialect = scheme.split('+').next().unwrap_or(scheme).replace("postgresql", "postgres");
        check_database_url(r, "orm", "url", format!("{dialect}://{rest}"))
    } else if driver.contains("mysql") {
        let mut url = build(
            "mysql",
            "mysql",
            r.string("mysql", "host", "127.0.0.1"),
            r.int("mysql", "port", 3306, 1)?,
            r.string("mysql", "user", "notification"),
            r.string("mysql", "passwd", "password"),
            r.string("mysql", "db", "mon"),
        )?;
        let ssl = r.dict("mysql", "ssl", &[])?;
        if !ssl.is_empty() {
            let mut query = url.query_pairs_mut();
            query.append_pair("ssl-mode", if ssl.iter().any(|(k, _)| k == "ca") { "VERIFY_CA" } else { "REQUIRED" });
            for (key, value) in &ssl {
                match key.as_str() {
                    "ca" => query.append_pair("ssl-ca", value),
                    "cert" => query.append_pair("ssl-cert", value),
                    "key" => query.append_pair("ssl-key", value),
                    _ => &mut query,
                };
            }
        }
        Ok(url.to_string())
    } else {
        Err(r.invalid("database", "repo_driver", format!("unknown driver {driver:?}: use mysql, postgresql or orm, or set [database] url")))
    }
}

fn check_database_url(r: &Reader, section: &str, key: &str, url: String) -> Result<String, Error> {
    let known = ["mysql://", "mariadb://", "postgres://", "postgresql://", "sqlite:"];
    if !known.iter().any(|prefix| url.starts_with(prefix)) {
        return Err(r.invalid(section, key, "expected a mysql://, postgres:// or sqlite:// URL"));
    }
    Ok(url.replacen("mariadb://", "mysql://", 1).replacen("postgresql://", "postgres://", 1))
}
