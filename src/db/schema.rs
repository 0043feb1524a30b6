//! The Monasca tables Tocsin reads, as monasca-api's migrations create them on MySQL (types,
//! names and constraints kept, `fk_alarm_noticication_method_type` typo included), with the
//! nearest types on PostgreSQL and SQLite. Every statement is idempotent.

use super::Dialect;

pub fn statements(dialect: Dialect) -> Vec<&'static str> {
    let ddl = match dialect {
        Dialect::MySql => MYSQL,
        Dialect::Postgres => POSTGRES,
        Dialect::Sqlite => SQLITE,
    };
    ddl.split(';').map(str::trim).filter(|s| !s.is_empty()).collect()
}

const MYSQL: &str = r#"
CREATE TABLE IF NOT EXISTS alarm_state (
  name VARCHAR(20) NOT NULL, PRIMARY KEY (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
INSERT IGNORE INTO alarm_state (name) VALUES ('UNDETERMINED'), ('OK'), ('ALARM');
CREATE TABLE IF NOT EXISTS alarm_definition_severity (
  name VARCHAR(20) NOT NULL, PRIMARY KEY (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
INSERT IGNORE INTO alarm_definition_severity (name) VALUES ('LOW'), ('MEDIUM'), ('HIGH'), ('CRITICAL');
CREATE TABLE IF NOT EXISTS notification_method_type (
  name VARCHAR(20) NOT NULL, PRIMARY KEY (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
CREATE TABLE IF NOT EXISTS alarm_definition (
  id VARCHAR(36) NOT NULL,
  tenant_id VARCHAR(36) NOT NULL,
  name VARCHAR(255) NOT NULL DEFAULT '',
  description VARCHAR(255) DEFAULT NULL,
  expression LONGTEXT NOT NULL,
  severity VARCHAR(20) NOT NULL,
  match_by VARCHAR(255) DEFAULT '',
  actions_enabled TINYINT(1) NOT NULL DEFAULT 1,
  created_at DATETIME NOT NULL,
  updated_at DATETIME NOT NULL,
  deleted_at DATETIME DEFAULT NULL,
  PRIMARY KEY (id),
  KEY tenant_id (tenant_id),
  KEY deleted_at (deleted_at),
  CONSTRAINT fk_alarm_definition_severity FOREIGN KEY (severity) REFERENCES alarm_definition_severity (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
CREATE TABLE IF NOT EXISTS alarm (
  id VARCHAR(36) NOT NULL,
  alarm_definition_id VARCHAR(36) NOT NULL DEFAULT '',
  state VARCHAR(20) NOT NULL,
  lifecycle_state VARCHAR(50) DEFAULT NULL,
  link VARCHAR(512) DEFAULT NULL,
  created_at DATETIME NOT NULL,
  state_updated_at DATETIME DEFAULT NULL,
  updated_at DATETIME NOT NULL,
  PRIMARY KEY (id),
  KEY alarm_definition_id (alarm_definition_id),
  CONSTRAINT fk_alarm_definition_id FOREIGN KEY (alarm_definition_id) REFERENCES alarm_definition (id) ON DELETE CASCADE,
  CONSTRAINT fk_alarm_alarm_state FOREIGN KEY (state) REFERENCES alarm_state (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
CREATE TABLE IF NOT EXISTS notification_method (
  id VARCHAR(36) NOT NULL,
  tenant_id VARCHAR(36) NOT NULL,
  name VARCHAR(250) DEFAULT NULL,
  type VARCHAR(20) NOT NULL,
  address VARCHAR(512) DEFAULT NULL,
  created_at DATETIME NOT NULL,
  updated_at DATETIME NOT NULL,
  period INT NOT NULL DEFAULT 0,
  PRIMARY KEY (id),
  CONSTRAINT fk_alarm_noticication_method_type FOREIGN KEY (type) REFERENCES notification_method_type (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
CREATE TABLE IF NOT EXISTS alarm_action (
  alarm_definition_id VARCHAR(36) NOT NULL,
  alarm_state VARCHAR(20) NOT NULL,
  action_id VARCHAR(36) NOT NULL,
  PRIMARY KEY (alarm_definition_id, alarm_state, action_id),
  CONSTRAINT fk_alarm_action_alarm_definition_id FOREIGN KEY (alarm_definition_id) REFERENCES alarm_definition (id) ON DELETE CASCADE,
  CONSTRAINT fk_alarm_action_notification_method_id FOREIGN KEY (action_id) REFERENCES notification_method (id) ON DELETE CASCADE,
  CONSTRAINT fk_alarm_action_alarm_state FOREIGN KEY (alarm_state) REFERENCES alarm_state (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4
"#;

const POSTGRES: &str = r#"
CREATE TABLE IF NOT EXISTS alarm_state (name VARCHAR(20) NOT NULL PRIMARY KEY);
INSERT INTO alarm_state (name) VALUES ('UNDETERMINED'), ('OK'), ('ALARM') ON CONFLICT DO NOTHING;
CREATE TABLE IF NOT EXISTS alarm_definition_severity (name VARCHAR(20) NOT NULL PRIMARY KEY);
INSERT INTO alarm_definition_severity (name) VALUES ('LOW'), ('MEDIUM'), ('HIGH'), ('CRITICAL') ON CONFLICT DO NOTHING;
CREATE TABLE IF NOT EXISTS notification_method_type (name VARCHAR(20) NOT NULL PRIMARY KEY);
CREATE TABLE IF NOT EXISTS alarm_definition (
  id VARCHAR(36) NOT NULL PRIMARY KEY,
  tenant_id VARCHAR(36) NOT NULL,
  name VARCHAR(255) NOT NULL DEFAULT '',
  description VARCHAR(255) DEFAULT NULL,
  expression TEXT NOT NULL,
  severity VARCHAR(20) NOT NULL REFERENCES alarm_definition_severity (name),
  match_by VARCHAR(255) DEFAULT '',
  actions_enabled BOOLEAN NOT NULL DEFAULT TRUE,
  created_at TIMESTAMP NOT NULL,
  updated_at TIMESTAMP NOT NULL,
  deleted_at TIMESTAMP DEFAULT NULL
);
CREATE TABLE IF NOT EXISTS alarm (
  id VARCHAR(36) NOT NULL PRIMARY KEY,
  alarm_definition_id VARCHAR(36) NOT NULL DEFAULT '' REFERENCES alarm_definition (id) ON DELETE CASCADE,
  state VARCHAR(20) NOT NULL REFERENCES alarm_state (name),
  lifecycle_state VARCHAR(50) DEFAULT NULL,
  link VARCHAR(512) DEFAULT NULL,
  created_at TIMESTAMP NOT NULL,
  state_updated_at TIMESTAMP DEFAULT NULL,
  updated_at TIMESTAMP NOT NULL
);
CREATE TABLE IF NOT EXISTS notification_method (
  id VARCHAR(36) NOT NULL PRIMARY KEY,
  tenant_id VARCHAR(36) NOT NULL,
  name VARCHAR(250) DEFAULT NULL,
  type VARCHAR(20) NOT NULL CONSTRAINT fk_alarm_noticication_method_type REFERENCES notification_method_type (name),
  address VARCHAR(512) DEFAULT NULL,
  created_at TIMESTAMP NOT NULL,
  updated_at TIMESTAMP NOT NULL,
  period INT NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS alarm_action (
  alarm_definition_id VARCHAR(36) NOT NULL REFERENCES alarm_definition (id) ON DELETE CASCADE,
  alarm_state VARCHAR(20) NOT NULL REFERENCES alarm_state (name),
  action_id VARCHAR(36) NOT NULL REFERENCES notification_method (id) ON DELETE CASCADE,
  PRIMARY KEY (alarm_definition_id, alarm_state, action_id)
)
"#;

const SQLITE: &str = r#"
CREATE TABLE IF NOT EXISTS alarm_state (name VARCHAR(20) NOT NULL PRIMARY KEY);
INSERT OR IGNORE INTO alarm_state (name) VALUES ('UNDETERMINED'), ('OK'), ('ALARM');
CREATE TABLE IF NOT EXISTS alarm_definition_severity (name VARCHAR(20) NOT NULL PRIMARY KEY);
INSERT OR IGNORE INTO alarm_definition_severity (name) VALUES ('LOW'), ('MEDIUM'), ('HIGH'), ('CRITICAL');
CREATE TABLE IF NOT EXISTS notification_method_type (name VARCHAR(20) NOT NULL PRIMARY KEY);
CREATE TABLE IF NOT EXISTS alarm_definition (
  id VARCHAR(36) NOT NULL PRIMARY KEY,
  tenant_id VARCHAR(36) NOT NULL,
  name VARCHAR(255) NOT NULL DEFAULT '',
  description VARCHAR(255) DEFAULT NULL,
  expression TEXT NOT NULL,
  severity VARCHAR(20) NOT NULL REFERENCES alarm_definition_severity (name),
  match_by VARCHAR(255) DEFAULT '',
  actions_enabled BOOLEAN NOT NULL DEFAULT 1,
  created_at DATETIME NOT NULL,
  updated_at DATETIME NOT NULL,
  deleted_at DATETIME DEFAULT NULL
);
CREATE TABLE IF NOT EXISTS alarm (
  id VARCHAR(36) NOT NULL PRIMARY KEY,
  alarm_definition_id VARCHAR(36) NOT NULL DEFAULT '' REFERENCES alarm_definition (id) ON DELETE CASCADE,
  state VARCHAR(20) NOT NULL REFERENCES alarm_state (name),
  lifecycle_state VARCHAR(50) DEFAULT NULL,
  link VARCHAR(512) DEFAULT NULL,
  created_at DATETIME NOT NULL,
  state_updated_at DATETIME DEFAULT NULL,
  updated_at DATETIME NOT NULL
);
CREATE TABLE IF NOT EXISTS notification_method (
  id VARCHAR(36) NOT NULL PRIMARY KEY,
  tenant_id VARCHAR(36) NOT NULL,
  name VARCHAR(250) DEFAULT NULL,
  type VARCHAR(20) NOT NULL REFERENCES notification_method_type (name),
  address VARCHAR(512) DEFAULT NULL,
  created_at DATETIME NOT NULL,
  updated_at DATETIME NOT NULL,
  period INT NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS alarm_action (
  alarm_definition_id VARCHAR(36) NOT NULL REFERENCES alarm_definition (id) ON DELETE CASCADE,
  alarm_state VARCHAR(20) NOT NULL REFERENCES alarm_state (name),
  action_id VARCHAR(36) NOT NULL REFERENCES notification_method (id) ON DELETE CASCADE,
  PRIMARY KEY (alarm_definition_id, alarm_state, action_id)
)
"#;
