//! Signed pushes on the server (issue 11): the push certificate of `git push --signed`, the
//! `require_signed_push` rule, and the words of its refusal and of the server's setup.
//!
//! A certificate counts only when it verifies itself (issue 23): the variables git gives the
//! pre-receive hook (`GIT_PUSH_CERT_STATUS`, `_SIGNER`, `_KEY`, `_NONCE_STATUS`) are also
//! what a pusher who reaches the repository over a local path or `file://` can set himself,
//! since receive-pack then runs in his own environment and sets them only for a signed push.
//! So the hook reads the certificate git stored (the blob `GIT_PUSH_CERT` names), checks its
//! SSH signature (namespace `git`, as git does) against the server's allowed signers and
//! revoked keys, its nonce against the server's `receive.certNonceSeed` (git's nonce is
//! `<stamp>-<HMAC-SHA1 keyed with "<path>:<stamp>" over the seed>`, issued within
//! [`CERT_MAX_AGE`]), its `pushee`
//! against `[server] urls` when they are set, and that its ref updates and push options are
//! exactly the ones this hook received (with a signed push, receive-pack takes the updates
//! from the certificate itself). git's own verdict in the variables can only refuse. The
//! `update` hook never counts a certificate: git gives it none.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};

use crate::checks::{Account, Pusher};
use crate::config::{Config, Environment};
use crate::git::Repo;
use crate::signing::{self, AllowedSigners, COMMIT_NAMESPACE};

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

/// How old a certificate's nonce may be when the hook runs: the time between the server's
/// advertisement and the end of the upload (or `receive.certNonceSlop`, if longer).
pub const CERT_MAX_AGE: Duration = Duration::from_secs(3600);

/// How far ahead of the hook's clock a nonce may be (another server of the same repository).
const CLOCK_SKEW: Duration = Duration::from_secs(60);

/// What the push certificate proves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushCert {
    /// The push is not signed (no `GIT_PUSH_CERT`).
    Unsigned,
    /// The certificate verifies: signed by `principal` (of the server's allowed signers) with
    /// the key of fingerprint `key`, for this push, to this server, recently.
    Good { principal: String, key: String },
    /// Signed, but it proves nothing: why.
    Bad(String),
}

/// A push certificate as git stores it (`man gitprotocol-pack`, push certificate).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Certificate {
    pub pushee: Option<String>,
    pub nonce: Option<String>,
    pub options: Vec<String>,
    /// `<old> <new> <ref>`, as sent.
    pub commands: Vec<String>,
    /// The signed part: everything before the signature.
    pub payload: Vec<u8>,
    /// The armoured signature.
    pub signature: String,
}

impl Certificate {
    /// Parses a certificate; `Err` says what is wrong with it.
    pub fn parse(bytes: &[u8]) -> Result<Certificate, String> {
        const BEGIN: &str = "-----BEGIN SSH SIGNATURE-----";
        let text = std::str::from_utf8(bytes).map_err(|_| "the certificate is not text")?;
        // As git's parse_signed_buffer: the signature starts at the last line that opens one.
        let at = text
            .rmatch_indices(BEGIN)
            .map(|(i, _)| i)
            .find(|&i| i == 0 || text.as_bytes()[i - 1] == b'\n')
            .ok_or("the certificate carries no SSH signature")?;
        let (payload, signature) = text.split_at(at);
        let (header, body) = payload
            .split_once("\n\n")
            .ok_or("the certificate has no ref updates")?;
        let mut lines = header.lines();
        if lines.next() != Some("certificate version 0.1") {
            return Err("not a push certificate of version 0.1".into());
        }
        let mut cert = Certificate {
            pushee: None,
            nonce: None,
            options: Vec::new(),
            commands: body.lines().map(str::to_owned).collect(),
            payload: payload.as_bytes().to_vec(),
            signature: signature.to_owned(),
        };
        for line in lines {
            let (key, value) = line.split_once(' ').unwrap_or((line, ""));
            match key {
                "pushee" => cert.pushee = Some(value.to_owned()),
                "nonce" => cert.nonce = Some(value.to_owned()),
                "push-option" => cert.options.push(value.to_owned()),
                _ => {}
            }
        }
        Ok(cert)
    }
}

/// What receive-pack handed this hook besides the certificate: the ref update lines on stdin
/// (`<old> <new> <ref>`, before symbolic refs are resolved) and the push options.
#[derive(Debug, Clone, Copy)]
pub struct Received<'a> {
    pub lines: &'a [String],
    pub options: &'a [String],
}

impl PushCert {
    /// What git's variables (as `get` returns them) say before the certificate is read:
    /// `Ok(None)` for an unsigned push, `Ok(Some(blob id))` for a certificate git calls good,
    /// `Err(why)` for one git itself refuses (git's word can refuse, never vouch).
    pub fn announced(get: &impl Fn(&str) -> Option<String>) -> Result<Option<String>, String> {
        let Some(blob) = get("GIT_PUSH_CERT").filter(|c| !c.trim().is_empty()) else {
            return Ok(None);
        };
        let status = get("GIT_PUSH_CERT_STATUS").unwrap_or_default();
        let nonce = get("GIT_PUSH_CERT_NONCE_STATUS").unwrap_or_default();
        if status != "G" {
            return Err(format!(
                "the certificate's signature is not good ({}; GIT_PUSH_CERT_STATUS={})",
                status_meaning(&status),
                if status.is_empty() { "unset" } else { &status }
            ));
        }
        if nonce == "SLOP" {
            let slop = get("GIT_PUSH_CERT_NONCE_SLOP").unwrap_or_default();
            return Err(format!(
                "the certificate's nonce was issued by this server {} s before this request (GIT_PUSH_CERT_NONCE_STATUS=SLOP): over smart HTTP the ref advertisement and the push are separate requests, and git accepts an earlier request's nonce only within receive.certNonceSlop seconds",
                if slop.is_empty() { "some" } else { slop.trim() }
            ));
        }
        if nonce != "OK" {
            return Err(format!(
                "the certificate's nonce is not the one this server issued (GIT_PUSH_CERT_NONCE_STATUS={}): a replayed or stale certificate",
                if nonce.is_empty() { "unset" } else { &nonce }
            ));
        }
        Ok(Some(blob.trim().to_owned()))
    }

    /// The certificate of the push the pre-receive hook received, verified from the
    /// certificate itself (see the module's documentation); `now` is the hook's clock.
    pub fn verify(
        repo: &Repo,
        config: &Config,
        get: &impl Fn(&str) -> Option<String>,
        received: Received,
        now: SystemTime,
    ) -> PushCert {
        let blob = match PushCert::announced(get) {
            Ok(None) => return PushCert::Unsigned,
            Ok(Some(blob)) => blob,
            Err(why) => return PushCert::Bad(why),
        };
        let refuse = |why: String| PushCert::Bad(why);
        let bytes = match git2::Oid::from_str(&blob)
            .ok()
            .and_then(|oid| repo.git2().find_blob(oid).ok())
        {
            Some(b) => b.content().to_vec(),
            None => {
                return refuse(format!(
                    "the certificate GIT_PUSH_CERT names ({}) is not in this repository: these values did not come from receive-pack",
                    crate::text::escape(&blob, 80)
                ))
            }
        };
        let cert = match Certificate::parse(&bytes) {
            Ok(c) => c,
            Err(why) => return refuse(format!("the certificate cannot be read: {why}")),
        };
        let allowed = match signing::allowed_signers(repo, config) {
            Ok(Some(a)) => a,
            Ok(None) => return refuse("the server has no allowed signers file to check the certificate against (gpg.ssh.allowedSignersFile, or `[trust] allowed_signers`)".into()),
            Err(e) => return refuse(format!("{e:#}")),
        };
        let verified = match check_signature(&allowed, &cert) {
            Ok(v) => v,
            Err(why) => return refuse(why),
        };
        if let Some(session) = get("GIT_PUSH_CERT_NONCE") {
            if cert.nonce.as_deref() != Some(session.trim()) {
                return refuse("the certificate's nonce is not the one GIT_PUSH_CERT_NONCE names: these values did not come from receive-pack".into());
            }
        }
        let git = repo.git2().config().ok();
        let seed = git
            .as_ref()
            .and_then(|c| c.get_string("receive.certnonceseed").ok())
            .filter(|s| !s.is_empty());
        let Some(seed) = seed else {
            return refuse(
                "this server has no receive.certNonceSeed, so no nonce can be its own".into(),
            );
        };
        let slop = git
            .as_ref()
            .and_then(|c| c.get_i64("receive.certnonceslop").ok())
            .and_then(|s| u64::try_from(s).ok())
            .map_or(Duration::ZERO, Duration::from_secs);
        let paths = service_paths(repo, cert.pushee.as_deref());
        if let Err(why) = nonce_issued_here(
            &seed,
            cert.nonce.as_deref(),
            &paths,
            now,
            CERT_MAX_AGE.max(slop),
        ) {
            return refuse(why);
        }
        if cert.commands != received.lines {
            return refuse("the certificate's ref updates are not the ones this push makes: it was signed for another push".into());
        }
        if cert.options != received.options {
            return refuse(
                "the certificate's push options are not the ones this push carries".into(),
            );
        }
        if !config.server.urls.is_empty() {
            let ours = crate::remote_id::server_addresses(repo, config);
            let bound = cert
                .pushee
                .as_deref()
                .is_some_and(|p| crate::remote_id::bound_to(p, &ours));
            if !bound {
                return refuse(format!(
                    "the certificate was signed for a push to {}, not to this server (`[server] urls`)",
                    crate::text::escape(cert.pushee.as_deref().unwrap_or("(no pushee)"), 120)
                ));
            }
        }
        PushCert::Good {
            key: signing::fingerprint_of(&verified.key).unwrap_or(verified.key),
            principal: verified.principal,
        }
    }

    /// The certificate of the push being received by `hook`, verified; the update hook gets
    /// no certificate from git, so whatever its environment says is not one.
    pub fn from_env(
        repo: &Repo,
        config: &Config,
        update_hook: bool,
        received: Received,
    ) -> PushCert {
        if update_hook {
            return PushCert::Unsigned;
        }
        PushCert::verify(
            repo,
            config,
            &crate::terminal::env_value,
            received,
            SystemTime::now(),
        )
    }

    /// The pusher a good certificate names, with the server's own name for them.
    pub fn pusher(&self, account: Option<Account>) -> Option<Pusher> {
        match self {
            PushCert::Good { principal, key } => Some(Pusher::Certified {
                principal: principal.clone(),
                key: key.clone(),
                account,
            }),
            _ => None,
        }
    }
}

/// Checks the certificate's SSH signature (namespace `git`) against the allowed signers.
fn check_signature(
    allowed: &AllowedSigners,
    cert: &Certificate,
) -> Result<signing::Verified, String> {
    signing::verify_pem(allowed, COMMIT_NAMESPACE, &cert.payload, &cert.signature)
        .map_err(|why| format!("the certificate's signature proves nothing: {why}"))
}

/// The paths receive-pack may have been started with, which its nonce's HMAC covers: `.`
/// (git daemon, git http-backend), the path the pushee URL names (ssh, a local path,
/// `file://`), the repository's own directory (a wrapper such as gitolite passes it whole).
pub fn service_paths(repo: &Repo, pushee: Option<&str>) -> Vec<String> {
    let mut out = vec![".".to_owned()];
    if let Some(p) = pushee.and_then(service_path) {
        out.push(p);
    }
    if let Ok(cwd) = std::env::current_dir() {
        out.push(cwd.to_string_lossy().into_owned());
    }
    let dir = repo.common_dir();
    out.push(dir.to_string_lossy().trim_end_matches('/').to_owned());
    if let Ok(c) = dir.canonicalize() {
        out.push(c.to_string_lossy().into_owned());
    }
    if let (Some(base), Some(name)) = (
        crate::terminal::env_value("GL_REPO_BASE"),
        crate::terminal::env_value("GL_REPO"),
    ) {
        out.push(format!("{base}/{name}.git"));
    }
    out.dedup();
    out
}

/// The path a client hands receive-pack for a push to `url`, as git's connect.c derives it:
/// a local path as is (`file://` dropped), the path of an `ssh://` URL (a leading `/~` made
/// `~`), the part after the colon of `host:path`. `None` for `git://` and HTTP (those run
/// receive-pack on `.`).
pub fn service_path(url: &str) -> Option<String> {
    if let Some(rest) = url.strip_prefix("file://") {
        return Some(rest.to_owned());
    }
    if let Some((scheme, rest)) = url.split_once("://") {
        if !scheme.eq_ignore_ascii_case("ssh")
            && !scheme.starts_with("git+ssh")
            && !scheme.starts_with("ssh+git")
        {
            return None;
        }
        let path = &rest[rest.find('/')?..];
        return Some(
            path.strip_prefix("/~")
                .map_or(path.to_owned(), |p| format!("~{p}")),
        );
    }
    match url.split_once(':') {
        Some((host, path)) if !host.contains('/') && !url.starts_with('/') => Some(path.to_owned()),
        _ => Some(url.to_owned()),
    }
}

/// Checks that `nonce` is one this server issued ([`nonce_for`] one of `paths`) no longer
/// than `max_age` before `now` (pure).
pub fn nonce_issued_here(
    seed: &str,
    nonce: Option<&str>,
    paths: &[String],
    now: SystemTime,
    max_age: Duration,
) -> Result<(), String> {
    let nonce = nonce.ok_or("the certificate carries no nonce")?;
    let bad = || {
        "the certificate's nonce was not issued by this server (its HMAC does not match this repository's receive.certNonceSeed): it was signed for another server or repository".to_owned()
    };
    let (stamp_text, _) = nonce.split_once('-').ok_or_else(bad)?;
    let stamp: u64 = stamp_text.parse().map_err(|_| bad())?;
    let ours = paths
        .iter()
        .any(|path| nonce_for(seed, path, stamp_text) == nonce);
    if !ours {
        return Err(bad());
    }
    let issued = UNIX_EPOCH + Duration::from_secs(stamp);
    if issued > now + CLOCK_SKEW {
        return Err("the certificate's nonce is from the future of this server's clock".into());
    }
    let age = now.duration_since(issued).unwrap_or_default();
    if age > max_age {
        return Err(format!(
            "the certificate's nonce was issued {} s before this hook ran, more than the {} s a push may take: a replayed certificate, or push again",
            age.as_secs(),
            max_age.as_secs()
        ));
    }
    Ok(())
}

/// git's nonce for `path` at `stamp` (`prepare_push_cert_nonce` in receive-pack, which keys
/// the HMAC with `<path>:<stamp>` and hashes the seed).
pub fn nonce_for(seed: &str, path: &str, stamp: &str) -> String {
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(format!("{path}:{stamp}").as_bytes())
        .expect("HMAC takes a key of any length");
    mac.update(seed.as_bytes());
    let hash = mac.finalize().into_bytes();
    let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
    format!("{stamp}-{hex}")
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
    let mut out = vec![format!("✗ {environment} requires a signed push: {why}")];
    let (nonce, signers) = ready;
    if why.contains("NONCE_STATUS=SLOP") {
        // The push was signed: telling the pusher to sign it is no way forward (issue 24,
        // item 5). The wait between the two requests is the server's setting.
        out.push(
            "  hint: the push was signed and its signature is good; the server took the nonce for stale because the push request came in a later second than the ref advertisement: push again, and if it is refused again, ask the server's administrator to allow the wait, in the bare repository:"
                .to_owned(),
        );
        out.push(format!("      {HTTP_SETUP}"));
    } else {
        out.push("  hint: push with `git push --signed …` (git signs the push certificate with your SSH key: `gpg.format = ssh`, `user.signingKey`)".to_owned());
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
    fn gits_word_can_refuse_but_never_vouch() {
        assert_eq!(PushCert::announced(&vars(&[])), Ok(None));
        let good = PushCert::announced(&vars(&[
            ("GIT_PUSH_CERT", "0123"),
            ("GIT_PUSH_CERT_STATUS", "G"),
            ("GIT_PUSH_CERT_NONCE_STATUS", "OK"),
        ]));
        assert_eq!(good, Ok(Some("0123".to_owned())));
        let stale = PushCert::announced(&vars(&[
            ("GIT_PUSH_CERT", "0123"),
            ("GIT_PUSH_CERT_STATUS", "G"),
            ("GIT_PUSH_CERT_NONCE_STATUS", "SLOP"),
        ]))
        .unwrap_err();
        assert!(stale.contains("SLOP"), "{stale}");
        let lines = refusal("production", &PushCert::Bad(stale), (true, true)).join("\n");
        assert!(lines.contains("receive.certNonceSlop 60"), "{lines}");
        let unknown = PushCert::announced(&vars(&[
            ("GIT_PUSH_CERT", "0123"),
            ("GIT_PUSH_CERT_STATUS", "E"),
            ("GIT_PUSH_CERT_NONCE_STATUS", "OK"),
        ]))
        .unwrap_err();
        assert!(unknown.contains("allowed signers"), "{unknown}");
        assert_eq!(PushCert::Bad("x".into()).pusher(None), None);
    }

    #[test]
    fn regression_issue_24_a_stale_nonce_is_not_answered_with_push_signed() {
        let stale = PushCert::Bad(
            "the certificate's nonce was issued by this server 1 s before this request (GIT_PUSH_CERT_NONCE_STATUS=SLOP)".into(),
        );
        let lines = refusal("production", &stale, (true, true)).join("\n");
        assert!(!lines.contains("push with `git push --signed"), "{lines}");
        assert!(lines.contains("hint: the push was signed"), "{lines}");
        assert!(
            lines.contains("git config receive.certNonceSlop 60"),
            "{lines}"
        );
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

    #[test]
    fn nonces_are_gits_hmac_of_path_and_stamp() {
        // The value git 2.47 computes for seed `test-seed`, path `.` and that stamp (its HMAC is
        // keyed with `<path>:<stamp>`): `printf test-seed | openssl dgst -sha1 -hmac .:1767225600`.
        let nonce = nonce_for("test-seed", ".", "1767225600");
        assert_eq!(nonce, "1767225600-4a69e6e1c7bcd92a4ecbf9f5f7650cb8b7f065d5");
        let at = UNIX_EPOCH + Duration::from_secs(1_767_225_600);
        let paths = vec![".".to_owned()];
        let age = Duration::from_secs(3600);
        assert_eq!(
            nonce_issued_here("test-seed", Some(&nonce), &paths, at, age),
            Ok(())
        );
        let later = at + Duration::from_secs(3601);
        assert!(
            nonce_issued_here("test-seed", Some(&nonce), &paths, later, age)
                .unwrap_err()
                .contains("3601 s")
        );
        let other = nonce_issued_here("another-seed", Some(&nonce), &paths, at, age).unwrap_err();
        assert!(other.contains("not issued by this server"), "{other}");
        let elsewhere = vec!["/srv/git/mirror.git".to_owned()];
        assert!(nonce_issued_here("test-seed", Some(&nonce), &elsewhere, at, age).is_err());
        assert!(nonce_issued_here("test-seed", None, &paths, at, age).is_err());
        let future = at - Duration::from_secs(120);
        assert!(nonce_issued_here("test-seed", Some(&nonce), &paths, future, age).is_err());
    }

    #[test]
    fn the_path_receive_pack_gets_follows_the_pushee() {
        assert_eq!(
            service_path("/srv/git/app.git").as_deref(),
            Some("/srv/git/app.git")
        );
        assert_eq!(
            service_path("file:///srv/git/app.git").as_deref(),
            Some("/srv/git/app.git")
        );
        assert_eq!(
            service_path("git@host:team/app.git").as_deref(),
            Some("team/app.git")
        );
        assert_eq!(
            service_path("ssh://git@host:2222/srv/app.git").as_deref(),
            Some("/srv/app.git")
        );
        assert_eq!(
            service_path("ssh://host/~/app.git").as_deref(),
            Some("~/app.git")
        );
        assert_eq!(service_path("git://host/app.git"), None);
        assert_eq!(service_path("https://host/app.git"), None);
    }

    #[test]
    fn certificates_parse_as_git_writes_them() {
        let text = "certificate version 0.1\npusher ssh-ed25519 AAAA 1767225600 +0000\npushee /srv/git/app.git\nnonce 1767225600-abc\npush-option consulted=Ada\n\n0000000000000000000000000000000000000000 1111111111111111111111111111111111111111 refs/heads/production\n-----BEGIN SSH SIGNATURE-----\nU1NIU0lH\n-----END SSH SIGNATURE-----\n";
        let cert = Certificate::parse(text.as_bytes()).unwrap();
        assert_eq!(cert.pushee.as_deref(), Some("/srv/git/app.git"));
        assert_eq!(cert.nonce.as_deref(), Some("1767225600-abc"));
        assert_eq!(cert.options, ["consulted=Ada"]);
        assert_eq!(cert.commands.len(), 1);
        assert!(cert.signature.starts_with("-----BEGIN SSH SIGNATURE-----"));
        assert!(String::from_utf8_lossy(&cert.payload).ends_with("refs/heads/production\n"));
        assert!(Certificate::parse(b"certificate version 0.1\n\nx\n").is_err());
    }
}
