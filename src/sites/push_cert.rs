//! Signed pushes on the server (issue 11): the push certificate git verified for the
//! pre-receive hook (`git push --signed`; `GIT_PUSH_CERT_STATUS`, `GIT_PUSH_CERT_NONCE_STATUS`,
//! `GIT_PUSH_CERT_SIGNER`, `GIT_PUSH_CERT_KEY`), the `require_signed_push` rule, and the words
//! of its refusal and of the server's setup.
//!
//! git checks the certificate's SSH signature against `gpg.ssh.allowedSignersFile` of the
//! receiving repository and its nonce against `receive.certNonceSeed`; a certificate that is
//! good on both counts names the pusher by key, which no environment variable of a web server
//! and no commit's committer can do.

use crate::checks::Pusher;
use crate::config::{Config, Environment};
use crate::git::Repo;

/// The git configuration a server needs to accept signed pushes.
pub const SERVER_SETUP: [&str; 2] = [
    "git config receive.certNonceSeed \"$(head -c 24 /dev/urandom | base64)\"",
    "git config gpg.ssh.allowedSignersFile /srv/git/allowed_signers   # one line per pusher: principal ssh-ed25519 AAAA…",
];

/// The git configuration a server reached over smart HTTP (`git http-backend`) needs as well:
/// each HTTP request runs its own `receive-pack`, so the certificate's nonce comes from the
/// advertisement's, and git calls it `SLOP` (not `OK`) when that was in an earlier second,
/// unless it is within `receive.certNonceSlop` seconds.
pub const HTTP_SETUP: &str = "git config receive.certNonceSlop 60   # over smart HTTP (git http-backend): accept the nonce of the ref advertisement up to 60 s later";

/// What the push certificate says, as git verified it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushCert {
    /// The push is not signed (no `GIT_PUSH_CERT`).
    Unsigned,
    /// Signed, verified (`G`) with a nonce git issued for this push (`OK`).
    Good { principal: String, key: String },
    /// Signed, but it proves nothing: why.
    Bad(String),
}

impl PushCert {
    /// Reads the certificate's verification from the variables `get` returns (pure, for tests).
    pub fn from(get: impl Fn(&str) -> Option<String>) -> PushCert {
        if get("GIT_PUSH_CERT").is_none_or(|c| c.trim().is_empty()) {
            return PushCert::Unsigned;
        }
        let status = get("GIT_PUSH_CERT_STATUS").unwrap_or_default();
        let nonce = get("GIT_PUSH_CERT_NONCE_STATUS").unwrap_or_default();
        let principal = get("GIT_PUSH_CERT_SIGNER").unwrap_or_default();
        let key = get("GIT_PUSH_CERT_KEY").unwrap_or_default();
        if status != "G" {
            return PushCert::Bad(format!(
                "the certificate's signature is not good ({}; GIT_PUSH_CERT_STATUS={})",
                status_meaning(&status),
                if status.is_empty() { "unset" } else { &status }
            ));
        }
        if nonce == "SLOP" {
            let slop = get("GIT_PUSH_CERT_NONCE_SLOP").unwrap_or_default();
            return PushCert::Bad(format!(
                "the certificate's nonce was issued by this server {} s before this request (GIT_PUSH_CERT_NONCE_STATUS=SLOP): over smart HTTP the ref advertisement and the push are separate requests, and git accepts an earlier request's nonce only within receive.certNonceSlop seconds",
                if slop.is_empty() { "some" } else { slop.trim() }
            ));
        }
        if nonce != "OK" {
            return PushCert::Bad(format!(
                "the certificate's nonce is not the one this server issued (GIT_PUSH_CERT_NONCE_STATUS={}): a replayed or stale certificate",
                if nonce.is_empty() { "unset" } else { &nonce }
            ));
        }
        if principal.trim().is_empty() || key.trim().is_empty() {
            return PushCert::Bad("git verified the certificate but named no signer".into());
        }
        PushCert::Good {
            principal: principal.trim().to_owned(),
            key: key.trim().to_owned(),
        }
    }

    /// The certificate of the push being received, from the environment git gives the hook.
    pub fn from_env() -> PushCert {
        PushCert::from(crate::terminal::env_value)
    }

    /// The pusher a good certificate names.
    pub fn pusher(&self) -> Option<Pusher> {
        match self {
            PushCert::Good { principal, key } => Some(Pusher::Certified {
                principal: principal.clone(),
                key: key.clone(),
            }),
            _ => None,
        }
    }
}

/// What git's one-letter `GIT_PUSH_CERT_STATUS` means (`git help receive-pack`; `%G?`).
fn status_meaning(status: &str) -> &'static str {
    match status {
        "B" => "a bad signature",
        "U" => "a good signature of unknown validity",
        "X" | "Y" => "an expired signature or key",
        "R" => "a revoked key",
        "E" => "it cannot be checked: a key that is not in the allowed signers, or no allowed signers file",
        "N" => "no signature",
        _ => "unknown",
    }
}

/// Tells whether `environment` requires a signed push (its own `require_signed_push`, else
/// `[server]`).
pub fn required(config: &Config, environment: &Environment) -> bool {
    environment
        .require_signed_push
        .unwrap_or(config.server.require_signed_push)
}

/// Tells whether the receiving repository is set up for signed pushes: `receive.certNonceSeed`
/// (git advertises `push-cert` only then) and `gpg.ssh.allowedSignersFile`.
pub fn server_ready(repo: &Repo) -> (bool, bool) {
    let Ok(config) = repo.git2().config() else {
        return (false, false);
    };
    let set = |key: &str| config.get_string(key).is_ok_and(|v| !v.trim().is_empty());
    (
        set("receive.certNonceSeed"),
        set("gpg.ssh.allowedSignersFile"),
    )
}

/// [`server_ready`] through `git config` (also where libgit2 cannot open the repository).
pub fn server_ready_in(git: &crate::git::GitDir) -> (bool, bool) {
    let set = |key: &str| git.config(key).is_some_and(|v| !v.trim().is_empty());
    (
        set("receive.certNonceSeed"),
        set("gpg.ssh.allowedSignersFile"),
    )
}

/// Tells whether the receiving repository accepts a nonce issued by an earlier request
/// (`receive.certNonceSlop`, needed over smart HTTP).
fn slop_set(repo: &Repo) -> bool {
    repo.git2()
        .config()
        .and_then(|c| c.get_i64("receive.certNonceSlop"))
        .is_ok_and(|s| s > 0)
}

/// The refusal of a push that is not signed (or whose certificate proves nothing) where
/// `environment` requires a signed push: why, then what to run and what the server needs.
pub fn refusal(environment: &str, cert: &PushCert, ready: (bool, bool)) -> Vec<String> {
    let why = match cert {
        PushCert::Unsigned => "the push is not signed".to_owned(),
        PushCert::Bad(why) => why.clone(),
        PushCert::Good { .. } => return Vec::new(),
    };
    let mut out = vec![
        format!("✗ {environment} requires a signed push: {why}"),
        "  hint: push with `git push --signed …` (git signs the push certificate with your SSH key: `gpg.format = ssh`, `user.signingKey`)".to_owned(),
    ];
    let (nonce, signers) = ready;
    if why.contains("NONCE_STATUS=SLOP") {
        out.push(
            "  note: the push came over smart HTTP, slower than this server allows; its administrator can allow more time, in the bare repository:"
                .to_owned(),
        );
        out.push(format!("      {HTTP_SETUP}"));
    }
    if !nonce || !signers {
        out.push(
            "  note: this server is not set up for signed pushes yet: its administrator must run, in the bare repository:"
                .to_owned(),
        );
        if !nonce {
            out.push(format!("      {}", SERVER_SETUP[0]));
        }
        if !signers {
            out.push(format!("      {}", SERVER_SETUP[1]));
        }
    }
    out
}

/// The lines `pushguard install` and `pushguard status` show about signed pushes in a bare
/// repository.
pub fn setup_lines(repo: &Repo, config: &Config) -> Vec<String> {
    let (nonce, signers) = server_ready(repo);
    let requiring: Vec<&str> = config
        .environments
        .iter()
        .filter(|e| required(config, e))
        .map(|e| e.name.as_str())
        .collect();
    let mut out = Vec::new();
    let state = match (nonce, signers) {
        (true, true) => {
            "set up (receive.certNonceSeed and gpg.ssh.allowedSignersFile are set)".to_owned()
        }
        (false, true) => "not accepted: receive.certNonceSeed is not set".to_owned(),
        (true, false) => "not verifiable: gpg.ssh.allowedSignersFile is not set".to_owned(),
        (false, false) => {
            "not set up (receive.certNonceSeed and gpg.ssh.allowedSignersFile are not set)"
                .to_owned()
        }
    };
    out.push(format!("signed pushes: {state}"));
    if requiring.is_empty() {
        out.push(
            "  required for: none (`[server] require_signed_push`; a good certificate still names the pusher)"
                .to_owned(),
        );
    } else {
        out.push(format!("  required for: {}", requiring.join(", ")));
    }
    if nonce && !slop_set(repo) {
        out.push(format!(
            "  served over smart HTTP (git http-backend)? then also run here: {HTTP_SETUP}"
        ));
    }
    if !(nonce && signers) {
        out.push("  to accept `git push --signed`, run here:".to_owned());
        if !nonce {
            out.push(format!("      {}", SERVER_SETUP[0]));
        }
        if !signers {
            out.push(format!("      {}", SERVER_SETUP[1]));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k: &str| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn certificate_states() {
        assert_eq!(PushCert::from(vars(&[])), PushCert::Unsigned);
        let good = PushCert::from(vars(&[
            ("GIT_PUSH_CERT", "0123"),
            ("GIT_PUSH_CERT_STATUS", "G"),
            ("GIT_PUSH_CERT_NONCE_STATUS", "OK"),
            ("GIT_PUSH_CERT_SIGNER", "pat@example.com"),
            ("GIT_PUSH_CERT_KEY", "SHA256:abc"),
        ]));
        assert_eq!(
            good.pusher(),
            Some(Pusher::Certified {
                principal: "pat@example.com".into(),
                key: "SHA256:abc".into()
            })
        );
        let stale = PushCert::from(vars(&[
            ("GIT_PUSH_CERT", "0123"),
            ("GIT_PUSH_CERT_STATUS", "G"),
            ("GIT_PUSH_CERT_NONCE_STATUS", "SLOP"),
            ("GIT_PUSH_CERT_SIGNER", "pat@example.com"),
            ("GIT_PUSH_CERT_KEY", "SHA256:abc"),
        ]));
        assert!(matches!(&stale, PushCert::Bad(why) if why.contains("SLOP")));
        let lines = refusal("production", &stale, (true, true)).join("\n");
        assert!(lines.contains("receive.certNonceSlop 60"), "{lines}");
        assert_eq!(stale.pusher(), None);
        let unknown = PushCert::from(vars(&[
            ("GIT_PUSH_CERT", "0123"),
            ("GIT_PUSH_CERT_STATUS", "E"),
            ("GIT_PUSH_CERT_NONCE_STATUS", "OK"),
        ]));
        assert!(matches!(&unknown, PushCert::Bad(why) if why.contains("allowed signers")));
    }

    #[test]
    fn refusal_says_what_to_run_and_what_the_server_needs() {
        let lines = refusal("production", &PushCert::Unsigned, (false, true)).join("\n");
        assert!(lines.contains("git push --signed"), "{lines}");
        assert!(lines.contains("receive.certNonceSeed"), "{lines}");
        assert!(!lines.contains("allowedSignersFile"), "{lines}");
        assert!(refusal("production", &PushCert::Unsigned, (true, true))
            .iter()
            .all(|l| !l.contains("administrator")));
    }
}
