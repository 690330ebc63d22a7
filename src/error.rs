//! The library's error type: everything that can go wrong while loading specs, token files or
//! scenario files, or while starting the server. Request-time problems are not errors of this
//! kind: they become HTTP responses in the API's own error shape (see `api_error`).

use std::path::PathBuf;

/// A failure of understudy itself (not of a client request).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A spec file could not be read or parsed as YAML/JSON.
    #[error("{file}: {message}")]
    SpecSyntax { file: String, message: String },

    /// A spec parsed but something in it is wrong; `location` is a dotted path into the
    /// document, `line` (1-based) where it could be found.
    #[error("{file}{}: at {location}: {message}", line.map(|l| format!(":{l}")).unwrap_or_default())]
    Spec {
        file: String,
        line: Option<usize>,
        location: String,
        message: String,
    },

    /// Two specs, or a spec and an option, disagree (e.g. `--api` names no loaded spec).
    #[error("{0}")]
    Config(String),

    /// A file named on the command line could not be read.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// The tokens file is malformed.
    #[error("{path}:{line}: {message}")]
    Tokens {
        path: PathBuf,
        line: usize,
        message: String,
    },

    /// A scenario file is invalid; `line` is 1-based when known.
    #[error("{file}{}: {message}", line.map(|l| format!(":{l}")).unwrap_or_default())]
    Scenario {
        file: String,
        line: Option<usize>,
        message: String,
    },

    /// Several problems, each its own error (a document is checked whole, so that every
    /// problem is reported at once).
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Many(Vec<Error>),

    /// The server could not bind or serve.
    #[error("server: {0}")]
    Server(String),
}

impl Error {
    /// Shorthand for a semantic spec error.
    pub fn spec(file: &str, location: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Spec {
            file: file.to_string(),
            line: None,
            location: location.into(),
            message: message.into(),
        }
    }
}

impl Error {
    /// One error for a list of them (the only one when there is one).
    pub fn many(mut list: Vec<Error>) -> Self {
        if list.len() == 1 {
            list.remove(0)
        } else {
            Error::Many(list)
        }
    }

    /// The same error, its message prefixed with `what` (e.g. which variant of a spec).
    pub fn context(self, what: &str) -> Self {
        match self {
            Error::Spec {
                file,
                line,
                location,
                message,
            } => Error::Spec {
                file,
                line,
                location,
                message: format!("{what}: {message}"),
            },
            Error::SpecSyntax { file, message } => Error::SpecSyntax {
                file,
                message: format!("{what}: {message}"),
            },
            Error::Many(list) => Error::Many(list.into_iter().map(|e| e.context(what)).collect()),
            other => other,
        }
    }
}

/// Result alias used across the library.
pub type Result<T, E = Error> = std::result::Result<T, E>;
