//! Signed attestations: the signing adapter over git's own SSH signing setup, the trust root
//! (`[trust]` and an SSH allowed-signers file), and the rules that decide what a signature
//! proves.
//!
//! Signing uses exactly what `git commit -S` uses with `gpg.format = ssh`: `user.signingKey`
//! (a private key file, a public key file whose private half is in `ssh-agent`, or a literal
//! `key::ssh-ed25519 …`) handed to `ssh-keygen -Y sign -n <namespace>` (or
//! `gpg.ssh.program`). That is the only process signing starts: one per signed record or
//! approval. Verification runs in process for Ed25519 keys (the `ssh-key` crate's SSHSIG code
//! and a reader for the allowed-signers file) and falls back to `ssh-keygen -Y find-principals`
//! and `-Y verify` for everything else (RSA and ECDSA keys, certificates, lines with
//! `valid-after`/`valid-before`), so every case OpenSSH accepts is still accepted. A principal
//! of the allowed-signers file is an identity; a name or an email in a note is not.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{anyhow, Context as _, Result};
use ssh_key::{PublicKey, SshSig};

use crate::audit::Record;
use crate::config::{Config, Environment};
use crate::git::{scrub_env, Repo};
use crate::outcome::WithHint;

/// The namespace of an audit record's signature.
pub const RECORD_NAMESPACE: &str = "pushguard-record";
/// The namespace of an approval's signature.
pub const APPROVAL_NAMESPACE: &str = "pushguard-approval";
/// The namespace of a waiver's signature.
pub const WAIVER_NAMESPACE: &str = "pushguard-waiver";
/// The namespace git signs commits under.
pub const COMMIT_NAMESPACE: &str = "git";

/// The exact git configuration that sets up SSH signing, shown when a key is missing.
pub const SETUP_LINES: [&str; 3] = [
    "git config --global gpg.format ssh",
    "git config --global user.signingKey ~/.ssh/id_ed25519.pub",
    "git config gpg.ssh.allowedSignersFile .allowed_signers   # or [trust] allowed_signers",
];

/// Tells whether `environment` requires signatures (`require_signatures` there, else `[trust]`).
pub fn required(config: &Config, environment: &Environment) -> bool {
    environment
        .require_signatures
        .unwrap_or(config.trust.require_signatures)
}

// ---------------------------------------------------------------------------------------
// Signing.

/// The signing key git is set up with, ready to sign.
#[derive(Debug, Clone)]
pub struct Signer {
    /// `gpg.ssh.program`, or `ssh-keygen`.
    program: String,
    /// `user.signingKey` as configured (for messages).
    pub configured: String,
    key: KeySource,
    /// The public half: what an allowed-signers file lists.
    pub public: PublicKey,
}

#[derive(Debug, Clone)]
enum KeySource {
    /// A private key file, or a public key file whose private half is in the agent.
    File(PathBuf),
    /// `key::<public key>`: the private half is in the agent.
    Literal(String),
}

/// What git's configuration says about SSH signing.
#[derive(Debug)]
pub enum KeyState {
    /// No `user.signingKey`, or `gpg.format` is not `ssh`.
    None(String),
    Ready(Box<Signer>),
    /// Configured, but unusable (the file is missing or unreadable, not a key).
    Broken(anyhow::Error),
}

/// Reads git's signing setup from the repository's configuration (all levels).
pub fn key_state(repo: &Repo) -> KeyState {
    let config = match repo.git2().config() {
        Ok(c) => c,
        Err(e) => return KeyState::Broken(anyhow!("cannot read git's configuration: {e}")),
    };
    let format = config.get_string("gpg.format").unwrap_or_default();
    if format != "ssh" {
        return KeyState::None(if format.is_empty() {
            "`gpg.format` is not set".into()
        } else {
            format!("`gpg.format` is `{format}`, not `ssh`")
        });
    }
    let Ok(configured) = config.get_string("user.signingkey") else {
        return KeyState::None("`user.signingKey` is not set".into());
    };
    if configured.trim().is_empty() {
        // An empty value (often a repository's way to clear a global one) names no key, not
        // the current directory (issue 24, item 5).
        return KeyState::None("`user.signingKey` is set but empty".into());
    }
    let program = config
        .get_string("gpg.ssh.program")
        .unwrap_or_else(|_| "ssh-keygen".into());
    match signer_for(&configured, program, repo.work_tree()) {
        Ok(s) => KeyState::Ready(Box::new(s)),
        Err(e) => KeyState::Broken(e),
    }
}

fn signer_for(configured: &str, program: String, work_tree: Option<&Path>) -> Result<Signer> {
    let configured = configured.trim().to_owned();
    let literal = configured.strip_prefix("key::").or_else(|| {
        configured
            .starts_with("ssh-")
            .then_some(configured.as_str())
    });
    if let Some(text) = literal {
        let public = PublicKey::from_openssh(text.trim())
            .map_err(|e| anyhow!("`user.signingKey` is not a valid SSH public key ({e})"))
            .hint(
                "set it to a key file, or to `key::ssh-ed25519 AAAA…` as printed by `ssh-add -L`",
            )?;
        return Ok(Signer {
            program,
            key: KeySource::Literal(text.trim().to_owned()),
            public,
            configured,
        });
    }
    let path = expand_home(&configured, work_tree);
    let text = std::fs::read_to_string(&path)
        .with_context(|| {
            format!(
                "cannot read the signing key `{}` (`user.signingKey`)",
                path.display()
            )
        })
        .hint(
            "create one with `ssh-keygen -t ed25519`, or point `user.signingKey` at your key file",
        )?;
    let public = public_of_key_file(&path, &text)?;
    Ok(Signer {
        program,
        key: KeySource::File(path),
        public,
        configured,
    })
}

/// The public key of a key file: itself, the public half of a private key, or `<file>.pub`.
fn public_of_key_file(path: &Path, text: &str) -> Result<PublicKey> {
    if let Ok(key) = PublicKey::from_openssh(text.trim()) {
        return Ok(key);
    }
    if let Ok(key) = ssh_key::PrivateKey::from_openssh(text.trim()) {
        return Ok(key.public_key().clone());
    }
    let mut pub_path = path.as_os_str().to_owned();
    pub_path.push(".pub");
    std::fs::read_to_string(&pub_path)
        .ok()
        .and_then(|t| PublicKey::from_openssh(t.trim()).ok())
        .ok_or_else(|| anyhow!("`{}` is not an SSH key pushguard can read", path.display()))
        .hint("`user.signingKey` must name an OpenSSH private or public key file (`ssh-keygen -t ed25519`)")
}

/// Expands `~/` as git does for paths; a relative path is taken from the work-tree root.
fn expand_home(path: &str, base: Option<&Path>) -> PathBuf {
    if let Some(rest) = path.strip_prefix("~/") {
        if let Some(home) = dirs::home_dir() {
            return home.join(rest);
        }
    }
    let p = PathBuf::from(path);
    match base {
        Some(base) if p.is_relative() => base.join(p),
        _ => p,
    }
}

impl Signer {
    /// Signs `msg` under `namespace` with one `ssh-keygen -Y sign`; returns the signature's
    /// base64 (the armour's body on one line).
    pub fn sign(&self, namespace: &str, msg: &[u8]) -> Result<String> {
        let literal_file;
        let (key_path, agent) = match &self.key {
            KeySource::File(p) => (p.clone(), false),
            KeySource::Literal(text) => {
                literal_file = tempfile_with(text)?;
                (literal_file.path().to_owned(), true)
            }
        };
        let mut cmd = Command::new(&self.program);
        scrub_env(&mut cmd);
        cmd.args(["-Y", "sign", "-n", namespace, "-f"])
            .arg(&key_path)
            .args(if agent { &["-U"][..] } else { &[][..] })
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().map_err(|e| {
            let what = if e.kind() == std::io::ErrorKind::NotFound {
                format!("`{}` is not installed (or not on PATH)", self.program)
            } else {
                format!("cannot run `{}`", self.program)
            };
            crate::outcome::with_hint(
                anyhow!("{what}: it makes the SSH signature ({e})"),
                "install OpenSSH's client tools (`apt install openssh-client`), or set `gpg.ssh.program`",
            )
        })?;
        let mut stdin = child.stdin.take().expect("stdin is piped");
        let written = stdin.write_all(msg);
        drop(stdin);
        let out = child
            .wait_with_output()
            .with_context(|| format!("`{}` did not finish", self.program))?;
        written.with_context(|| format!("cannot hand the data to `{}`", self.program))?;
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr).trim().to_owned();
            let hint = if stderr.contains("agent") {
                format!(
                    "the private half of `{}` must be in ssh-agent: run `ssh-add <private key file>` (and check SSH_AUTH_SOCK)",
                    self.configured
                )
            } else {
                format!(
                    "check that `{}` is your private key, or its public half with the private key in ssh-agent",
                    self.configured
                )
            };
            return Err(anyhow!(
                "signing with `{}` failed: {}",
                self.configured,
                if stderr.is_empty() {
                    "no reason given"
                } else {
                    &stderr
                }
            ))
            .hint(hint);
        }
        let armoured = String::from_utf8_lossy(&out.stdout);
        let sig = SshSig::from_pem(armoured.as_bytes())
            .map_err(|e| anyhow!("`{}` wrote no SSH signature ({e})", self.program))?;
        Ok(unarmour(&sig))
    }
}

/// A temporary file holding `text` (a literal public key for `ssh-keygen -U`).
fn tempfile_with(text: &str) -> Result<TempFile> {
    use std::sync::atomic::{AtomicU32, Ordering};
    static SEQ: AtomicU32 = AtomicU32::new(0);
    let path = std::env::temp_dir().join(format!(
        "pushguard-key-{}-{}.pub",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::write(&path, format!("{text}\n"))
        .with_context(|| format!("cannot write `{}`", path.display()))?;
    Ok(TempFile(path))
}

/// A file removed when dropped.
struct TempFile(PathBuf);

impl TempFile {
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// The base64 of a signature on one line (its PEM armour's body).
fn unarmour(sig: &SshSig) -> String {
    let pem = sig
        .to_pem(ssh_key::LineEnding::LF)
        .expect("a parsed signature encodes");
    pem.lines().filter(|l| !l.starts_with("-----")).collect()
}

/// The PEM armour around a one-line base64 signature, as `ssh-keygen -Y verify -s` reads it.
pub fn armour(b64: &str) -> String {
    let mut out = String::from("-----BEGIN SSH SIGNATURE-----\n");
    let bytes = b64.as_bytes();
    for chunk in bytes.chunks(70) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str("-----END SSH SIGNATURE-----\n");
    out
}

// ---------------------------------------------------------------------------------------
// The allowed signers.

/// One line of an allowed-signers file.
#[derive(Debug, Clone)]
struct Line {
    principals: String,
    options: Vec<(String, Option<String>)>,
    /// `type base64`, as `PublicKey::to_openssh` writes it without a comment.
    key: String,
}

/// An SSH allowed-signers file (`man ssh-keygen`, ALLOWED SIGNERS), as read, with the
/// revoked keys git's `gpg.ssh.revocationFile` names.
#[derive(Debug, Clone)]
pub struct AllowedSigners {
    pub path: PathBuf,
    lines: Vec<Line>,
    /// A key listed there proves nothing, whatever the allowed signers say.
    pub revoked: Option<Revoked>,
}

/// git's `gpg.ssh.revocationFile`: a list of public keys, or an OpenSSH key revocation list
/// (KRL, binary; asked through `ssh-keygen -Q`, as `ssh-keygen -Y verify -r` reads it).
#[derive(Debug, Clone)]
pub struct Revoked {
    pub path: PathBuf,
    /// The listed keys, `type base64`; empty for a KRL.
    keys: Vec<String>,
    krl: bool,
}

/// The magic that opens an OpenSSH KRL.
const KRL_MAGIC: &[u8] = b"SSHKRL\n\0";

impl Revoked {
    /// Reads the file; a line that is not a public key is an error naming it.
    pub fn load(path: &Path) -> Result<Revoked> {
        let bytes = std::fs::read(path)
            .with_context(|| {
                format!(
                    "cannot read the revoked keys `{}` (gpg.ssh.revocationFile)",
                    path.display()
                )
            })
            .hint(
                "a revoked key must count for nothing: fix gpg.ssh.revocationFile, or unset it",
            )?;
        if bytes.starts_with(KRL_MAGIC) {
            return Ok(Revoked {
                path: path.to_owned(),
                keys: Vec::new(),
                krl: true,
            });
        }
        let text = String::from_utf8_lossy(&bytes);
        let mut keys = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let raw = raw.trim();
            if raw.is_empty() || raw.starts_with('#') {
                continue;
            }
            let key = PublicKey::from_openssh(raw)
                .map(|k| key_text(k.key_data()))
                .map_err(|_| {
                    anyhow!(
                        "{}:{}: not a public key (gpg.ssh.revocationFile lists one `ssh-ed25519 AAAA…` per line, or is a KRL)",
                        path.display(),
                        i + 1
                    )
                })?;
            keys.push(key);
        }
        Ok(Revoked {
            path: path.to_owned(),
            keys,
            krl: false,
        })
    }

    /// Tells whether `key` is revoked; `Err` when a KRL cannot be asked.
    pub fn contains(&self, key: &ssh_key::public::KeyData) -> Result<bool, String> {
        let text = key_text(key);
        if !self.krl {
            return Ok(self.keys.contains(&text));
        }
        let file = tempfile_with(&text).map_err(|e| format!("{e:#}"))?;
        let mut cmd = Command::new("ssh-keygen");
        scrub_env(&mut cmd);
        let out = cmd
            .args(["-Q", "-f"])
            .arg(&self.path)
            .arg(file.path())
            .stdin(Stdio::null())
            .output()
            .map_err(|e| {
                format!(
                    "cannot run `ssh-keygen -Q` to read the KRL `{}` ({e})",
                    self.path.display()
                )
            })?;
        match out.status.code() {
            Some(0) => Ok(false),
            Some(1) if String::from_utf8_lossy(&out.stdout).contains("REVOKED") => Ok(true),
            _ => Err(format!(
                "`ssh-keygen -Q` cannot read the KRL `{}`: {}",
                self.path.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            )),
        }
    }
}

impl AllowedSigners {
    /// Reads and parses the file; a line pushguard cannot parse is an error naming it.
    pub fn load(path: &Path) -> Result<AllowedSigners> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the allowed signers file `{}`", path.display()))
            .hint("create it with one line per person: `ada@example.com ssh-ed25519 AAAA…` (see `man ssh-keygen`, ALLOWED SIGNERS)")?;
        let mut lines = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let raw = raw.trim();
            if raw.is_empty() || raw.starts_with('#') {
                continue;
            }
            let line = parse_line(raw).ok_or_else(|| {
                anyhow!(
                    "{}:{}: not an allowed-signers line (expected `principals [options] key-type base64-key`)",
                    path.display(),
                    i + 1
                )
            })?;
            lines.push(line);
        }
        Ok(AllowedSigners {
            path: path.to_owned(),
            lines,
            revoked: None,
        })
    }

    /// The principals of every line that lists `key` (for messages and the pusher's identity).
    pub fn principals_of(&self, key: &PublicKey) -> Vec<String> {
        let key = key_text(key.key_data());
        self.lines
            .iter()
            .filter(|l| l.key == key)
            .map(|l| l.principals.clone())
            .collect()
    }

    /// The principals of every line whose key has this fingerprint (`SHA256:…`).
    pub fn principals_of_fingerprint(&self, fingerprint: &str) -> Vec<String> {
        self.lines
            .iter()
            .filter(|l| fingerprint_of(&l.key).is_some_and(|f| f == fingerprint))
            .map(|l| l.principals.clone())
            .collect()
    }
}

/// The SHA-256 fingerprint (`SHA256:…`, as git's `GIT_PUSH_CERT_KEY`) of a key given as
/// `type base64`; `None` when it is not a key.
pub fn fingerprint_of(key_text: &str) -> Option<String> {
    PublicKey::from_openssh(key_text.trim())
        .ok()
        .map(|k| k.fingerprint(ssh_key::HashAlg::Sha256).to_string())
}

/// `type base64` of a key, without a comment.
fn key_text(key: &ssh_key::public::KeyData) -> String {
    PublicKey::new(key.clone(), "")
        .to_openssh()
        .map(|s| s.trim().to_owned())
        .unwrap_or_default()
}

/// Splits on whitespace outside double quotes.
fn tokens(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in line.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                cur.push(c);
            }
            c if c.is_whitespace() && !quoted => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn is_key_type(t: &str) -> bool {
    t.starts_with("ssh-") || t.starts_with("ecdsa-") || t.starts_with("sk-")
}

fn parse_line(raw: &str) -> Option<Line> {
    let toks = tokens(raw);
    let principals = toks.first()?.trim_matches('"').to_owned();
    let (options, at) = if is_key_type(toks.get(1)?) {
        (Vec::new(), 1)
    } else {
        (parse_options(toks.get(1)?), 2)
    };
    let (kind, b64) = (toks.get(at)?, toks.get(at + 1)?);
    if !is_key_type(kind) {
        return None;
    }
    // Normalise through the parser when the key type is known; keep the text otherwise.
    let key = PublicKey::from_openssh(&format!("{kind} {b64}"))
        .map(|k| key_text(k.key_data()))
        .unwrap_or_else(|_| format!("{kind} {b64}"));
    Some(Line {
        principals,
        options,
        key,
    })
}

/// `cert-authority,namespaces="git,file"` → name and unquoted value pairs.
fn parse_options(text: &str) -> Vec<(String, Option<String>)> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut push = |cur: &mut String| {
        let item = std::mem::take(cur);
        match item.split_once('=') {
            Some((k, v)) => {
                out.push((k.to_ascii_lowercase(), Some(v.trim_matches('"').to_owned())))
            }
            None if !item.is_empty() => out.push((item.to_ascii_lowercase(), None)),
            None => {}
        }
    };
    for c in text.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                cur.push(c);
            }
            ',' if !quoted => push(&mut cur),
            c => cur.push(c),
        }
    }
    push(&mut cur);
    out
}

/// Where the allowed signers are: `[trust] allowed_signers` (relative to the directory of the
/// file that set it), else git's `gpg.ssh.allowedSignersFile` (relative to the work-tree root,
/// or the bare repository); `None` when neither is set.
///
/// A `.pushguard.toml` in the work tree that names another file than git's setting wins, and
/// says so once (issue 23): a file inside the repository does not override a setting outside
/// it silently.
pub fn allowed_signers_path(repo: &Repo, config: &Config) -> Option<PathBuf> {
    let base = repo.work_tree().unwrap_or_else(|| repo.common_dir());
    let from_git = repo
        .git2()
        .config()
        .ok()
        .and_then(|git| git.get_string("gpg.ssh.allowedsignersfile").ok())
        .filter(|p| !p.trim().is_empty())
        .map(|p| expand_home(&p, Some(base)));
    let Some(p) = &config.trust.allowed_signers else {
        return from_git;
    };
    let own_base = config.trust.base(config).unwrap_or(base);
    let path = expand_home(&p.to_string_lossy(), Some(own_base));
    let source = config.provenance.source_of("trust.allowed_signers");
    if let (Some(git), crate::config::Source::Repository(file)) = (&from_git, source) {
        if repo.work_tree().is_some() && !same_file(git, &path) {
            warn_once(&format!(
                "`[trust] allowed_signers` in `{}` ({}) is used instead of git's gpg.ssh.allowedSignersFile ({}), which is set outside the repository",
                file.display(),
                path.display(),
                git.display()
            ));
        }
    }
    Some(path)
}

/// Tells whether two paths name the same file (or the same path when either is missing).
fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

/// Prints a warning once per process.
fn warn_once(text: &str) {
    static SAID: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    let Ok(mut said) = SAID.lock() else { return };
    if !said.iter().any(|s| s == text) {
        eprintln!("pushguard: warning: {text}");
        said.push(text.to_owned());
    }
}

/// Where git's `gpg.ssh.revocationFile` is (relative to the work-tree root, or the bare
/// repository); `None` when it is not set.
pub fn revocation_path(repo: &Repo) -> Option<PathBuf> {
    let base = repo.work_tree().unwrap_or_else(|| repo.common_dir());
    let git = repo.git2().config().ok()?;
    let p = git.get_string("gpg.ssh.revocationfile").ok()?;
    (!p.trim().is_empty()).then(|| expand_home(&p, Some(base)))
}

/// Loads the allowed signers the configuration names, with git's `gpg.ssh.revocationFile`
/// (a revoked key counts for nobody, as for `git verify-commit`); `Ok(None)` when none is
/// configured.
pub fn allowed_signers(repo: &Repo, config: &Config) -> Result<Option<AllowedSigners>> {
    let Some(path) = allowed_signers_path(repo, config) else {
        return Ok(None);
    };
    let mut allowed = AllowedSigners::load(&path)?;
    if let Some(revoked) = revocation_path(repo) {
        allowed.revoked = Some(Revoked::load(&revoked)?);
    }
    Ok(Some(allowed))
}

// ---------------------------------------------------------------------------------------
// Verification.

/// Who a verified signature names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The principals of the allowed-signers line that vouches for the key.
    pub principal: String,
    /// The signing key, `type base64`.
    pub key: String,
}

/// Verifies a one-line base64 signature of `msg` under `namespace` against `allowed`;
/// `Err` says why it proves nothing.
pub fn verify(
    allowed: &AllowedSigners,
    namespace: &str,
    msg: &[u8],
    b64: &str,
) -> Result<Verified, String> {
    verify_pem(allowed, namespace, msg, &armour(b64))
}

/// Verifies an armoured signature (as git stores one in a commit).
pub fn verify_pem(
    allowed: &AllowedSigners,
    namespace: &str,
    msg: &[u8],
    pem: &str,
) -> Result<Verified, String> {
    let Ok(sig) = SshSig::from_pem(pem.as_bytes()) else {
        return verify_with_ssh_keygen(allowed, namespace, msg, pem);
    };
    if sig.namespace() != namespace {
        return Err(format!(
            "signed for `{}`, not `{namespace}`",
            sig.namespace()
        ));
    }
    let key = key_text(sig.public_key());
    if let Some(revoked) = &allowed.revoked {
        match revoked.contains(sig.public_key()) {
            Ok(false) => {}
            Ok(true) => {
                return Err(format!(
                    "signed by a revoked key ({}, listed in `{}`)",
                    fingerprint(sig.public_key()),
                    revoked.path.display()
                ))
            }
            Err(why) => return Err(why),
        }
    }
    if !matches!(sig.public_key(), ssh_key::public::KeyData::Ed25519(_)) {
        return verify_with_ssh_keygen(allowed, namespace, msg, pem);
    }
    let mut vouching = allowed.lines.iter().filter(|l| l.key == key);
    let Some(line) = vouching.find(|l| namespace_allowed(l, namespace)) else {
        return Err(format!(
            "signed by a key that is not in the allowed signers `{}` ({})",
            allowed.path.display(),
            fingerprint(sig.public_key())
        ));
    };
    if line.options.iter().any(|(k, _)| k != "namespaces") {
        // valid-after/valid-before and the like: OpenSSH's own rules decide.
        return verify_with_ssh_keygen(allowed, namespace, msg, pem);
    }
    PublicKey::new(sig.public_key().clone(), "")
        .verify(namespace, msg, &sig)
        .map_err(|e| format!("the signature does not match the data ({e})"))?;
    Ok(Verified {
        principal: line.principals.clone(),
        key,
    })
}

fn namespace_allowed(line: &Line, namespace: &str) -> bool {
    line.options
        .iter()
        .find(|(k, _)| k == "namespaces")
        .is_none_or(|(_, v)| {
            v.as_deref()
                .unwrap_or_default()
                .split(',')
                .any(|n| pattern_match(n.trim(), namespace))
        })
}

/// OpenSSH's `match_pattern`: `*` and `?` wildcards.
fn pattern_match(pattern: &str, text: &str) -> bool {
    globset::GlobBuilder::new(pattern)
        .build()
        .map(|g| g.compile_matcher().is_match(text))
        .unwrap_or(pattern == text)
}

fn fingerprint(key: &ssh_key::public::KeyData) -> String {
    key.fingerprint(ssh_key::HashAlg::Sha256).to_string()
}

/// The fallback for what the in-process check does not cover: `ssh-keygen -Y find-principals`
/// names the principal, `ssh-keygen -Y verify` checks the signature for it.
fn verify_with_ssh_keygen(
    allowed: &AllowedSigners,
    namespace: &str,
    msg: &[u8],
    pem: &str,
) -> Result<Verified, String> {
    let sig_file = tempfile_with(pem.trim_end()).map_err(|e| format!("{e:#}"))?;
    let run = |args: &[&str], input: Option<&[u8]>| -> Result<std::process::Output, String> {
        let mut cmd = Command::new("ssh-keygen");
        scrub_env(&mut cmd);
        cmd.args(args)
            .arg("-f")
            .arg(&allowed.path)
            .arg("-s")
            .arg(sig_file.path())
            .stdin(if input.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("cannot run `ssh-keygen` to verify the signature ({e})"))?;
        if let (Some(input), Some(mut stdin)) = (input, child.stdin.take()) {
            let _ = stdin.write_all(input);
        }
        child
            .wait_with_output()
            .map_err(|e| format!("`ssh-keygen` did not finish ({e})"))
    };
    let found = run(&["-Y", "find-principals", "-n", namespace], None)?;
    let principal = String::from_utf8_lossy(&found.stdout)
        .lines()
        .next()
        .unwrap_or_default()
        .trim()
        .to_owned();
    if !found.status.success() || principal.is_empty() {
        return Err(format!(
            "signed by a key that is not in the allowed signers `{}`",
            allowed.path.display()
        ));
    }
    let revoked = allowed
        .revoked
        .as_ref()
        .map(|r| r.path.to_string_lossy().into_owned());
    let mut args = vec!["-Y", "verify", "-n", namespace, "-I", &principal];
    if let Some(r) = &revoked {
        args.extend(["-r", r.as_str()]);
    }
    let checked = run(&args, Some(msg))?;
    if !checked.status.success() {
        return Err(format!(
            "the signature does not verify: {}",
            String::from_utf8_lossy(&checked.stderr).trim()
        ));
    }
    let key = SshSig::from_pem(pem.as_bytes())
        .map(|s| key_text(s.public_key()))
        .unwrap_or_default();
    Ok(Verified { principal, key })
}

// ---------------------------------------------------------------------------------------
// What is signed.

/// The bytes an approval's signature covers: the environment, the commit and its tree.
pub fn approval_payload(environment: &str, commit: &str, tree: &str) -> Vec<u8> {
    format!("pushguard approval\nenvironment {environment}\ncommit {commit}\ntree {tree}\n")
        .into_bytes()
}

/// The bytes a waiver's signature covers: the check, the environment, the commit and the
/// reason (as a JSON string, so that it stays on one line whatever it holds).
pub fn waiver_payload(check: &str, environment: &str, commit: &str, reason: &str) -> Vec<u8> {
    let reason = serde_json::to_string(reason).expect("a string always serializes");
    format!(
        "pushguard waiver\ncheck {check}\nenvironment {environment}\ncommit {commit}\nreason {reason}\n"
    )
    .into_bytes()
}

/// The bytes a record's signature covers: the line up to (not including) `,"prev":`, closed
/// with `}`. `prev` and `signature` are outside it, so a record is signed before it is
/// chained; the line's hash still covers everything.
pub fn record_payload(line: &[u8]) -> Option<Vec<u8>> {
    const PREV: &[u8] = b",\"prev\":";
    // A JSON string cannot hold `,"prev":` (its quotes would be escaped), so the first one is
    // the field.
    let at = line.windows(PREV.len()).position(|w| w == PREV)?;
    let mut out = line[..at].to_vec();
    out.push(b'}');
    Some(out)
}

/// Signs `record` (before it is appended): sets its `signature`.
pub fn sign_record(record: &mut Record, signer: &Signer) -> Result<()> {
    record.signature = None;
    let (line, _) = record.to_line();
    let payload = record_payload(line.as_bytes()).expect("a record line has `prev`");
    record.signature = Some(signer.sign(RECORD_NAMESPACE, &payload)?);
    Ok(())
}

/// What a stored record's signature proves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordSignature {
    Unsigned,
    Verified(Verified),
    /// Signed, but it proves nothing: why.
    Invalid(String),
    /// Signed, and there is no allowed-signers file to check it against.
    Unchecked,
}

/// Checks the signature a stored line carries.
pub fn record_signature(
    line: &[u8],
    record: &Record,
    allowed: Option<&AllowedSigners>,
) -> RecordSignature {
    let Some(sig) = &record.signature else {
        return RecordSignature::Unsigned;
    };
    let Some(allowed) = allowed else {
        return RecordSignature::Unchecked;
    };
    let Some(payload) = record_payload(line) else {
        return RecordSignature::Invalid("the line has no `prev` field".into());
    };
    match verify(allowed, RECORD_NAMESPACE, &payload, sig) {
        Ok(v) => RecordSignature::Verified(v),
        Err(e) => RecordSignature::Invalid(e),
    }
}

impl RecordSignature {
    /// A short column for `pushguard log`: the verified principal, or why there is none.
    pub fn label(&self) -> String {
        match self {
            RecordSignature::Unsigned => "-".into(),
            RecordSignature::Verified(v) => v.principal.clone(),
            RecordSignature::Invalid(_) => "INVALID".into(),
            RecordSignature::Unchecked => "unchecked".into(),
        }
    }
}

/// The audit's rule with signatures required: a record counts only when its signature
/// verifies against the allowed signers. `None`: it counts; `Some(why)`: it does not.
pub fn audit_refusal(
    line: &[u8],
    record: &Record,
    allowed: Option<&AllowedSigners>,
) -> Option<String> {
    match record_signature(line, record, allowed) {
        RecordSignature::Verified(_) => None,
        RecordSignature::Unsigned => Some("the record is not signed".into()),
        RecordSignature::Unchecked => {
            Some("no allowed signers file to check the record's signature against".into())
        }
        RecordSignature::Invalid(why) => {
            Some(format!("the record's signature proves nothing: {why}"))
        }
    }
}

/// The configuration that names the trust root for `repo`: the work tree's layers, or on a
/// bare repository (a server) its `pushguard.toml`.
pub fn trust_config(repo: &Repo) -> Result<Config> {
    crate::config::load(&crate::config::Location::of_repo(repo))
}

/// `pushguard log`'s SIGNER column: `None` when no shown record is signed; else one label
/// per record, checked against the allowed signers of the current repository.
pub fn signer_labels(shown: &[(Record, Vec<u8>)]) -> Option<Vec<String>> {
    if shown.iter().all(|(r, _)| r.signature.is_none()) {
        return None;
    }
    let allowed = Repo::open_from_env()
        .and_then(|repo| allowed_signers(&repo, &trust_config(&repo)?))
        .unwrap_or_else(|e| {
            eprintln!("pushguard: warning: signatures are not checked: {e:#}");
            None
        });
    Some(
        shown
            .iter()
            .map(|(r, line)| record_signature(line, r, allowed.as_ref()).label())
            .collect(),
    )
}

/// The allowed signers `pushguard audit` checks records against: as [`allowed_signers`], but
/// never a file inside the audited checkout (issue 23: the commit being judged would choose
/// its own judge).
pub fn audit_allowed_signers(repo: &Repo, config: &Config) -> Result<Option<AllowedSigners>> {
    if let (Some(path), Some(root)) = (allowed_signers_path(repo, config), repo.work_tree()) {
        if crate::config::within(&path, root) {
            return Err(anyhow!(
                "the allowed signers `{}` are inside the checkout of the audited commit, which would choose its own judge",
                path.display()
            ))
            .hint("name an allowed signers file outside the checkout: `[trust] allowed_signers` in the deploy policy (--config), or `git config gpg.ssh.allowedSignersFile <file outside the checkout>`");
        }
    }
    allowed_signers(repo, config)
}

/// Tells whether signatures are required for records of `environment` by name: its own
/// `require_signatures` in `config`, else `[trust]` (also for an environment `config` does
/// not know, issue 23).
pub fn required_for(config: &Config, environment: &str) -> bool {
    match config.environment(environment) {
        Some(e) => required(config, e),
        None => config.trust.require_signatures,
    }
}

/// The records `pushguard audit` counts. Where signatures are required for a record's
/// environment ([`required_for`]), only a record whose signature verifies against `allowed`
/// counts, and each one refused is named on stderr with why; elsewhere every record counts (a
/// signature that does not verify makes it an unsigned record, which counts there).
pub fn audit_counted(
    config: &Config,
    allowed: Option<&AllowedSigners>,
    records: &[&Record],
) -> Vec<Record> {
    let mut out = Vec::new();
    for r in records {
        let why = if required_for(config, &r.environment) {
            let (line, _) = r.to_line();
            audit_refusal(line.as_bytes(), r, allowed)
        } else {
            None
        };
        match why {
            None => out.push((*r).clone()),
            Some(why) => eprintln!(
                "pushguard: not counted ({} requires signatures): the record of {} by {} at {}: {why}",
                crate::text::escape(&r.environment, 40),
                crate::text::short(r.new.as_deref().unwrap_or("-")),
                crate::text::escape(&r.user.name, 60),
                crate::text::escape(&r.time, 30),
            ),
        }
    }
    out
}

// ---------------------------------------------------------------------------------------
// The hook's part.

/// Signs a client hook's record before it is appended, when the pusher has a key. Without a
/// key the record stays unsigned, unless the environment requires signatures: then `Err`,
/// and the push is blocked. A key that fails to sign blocks only where signatures are
/// required; elsewhere it is a warning (returned as `Ok(Some)`).
pub fn sign_for_push(
    repo: &Repo,
    config: &Config,
    environment: &Environment,
    record: &mut Record,
) -> Result<Option<String>> {
    let required = required(config, environment);
    match key_state(repo) {
        KeyState::Ready(signer) if required => {
            key_is_allowed(repo, config, &signer)
                .with_context(|| format!("{} requires signatures", environment.name))?;
            sign_record(record, &signer).with_context(|| {
                format!(
                    "{} requires signatures, and the record could not be signed",
                    environment.name
                )
            })?;
            Ok(None)
        }
        KeyState::Ready(signer) => match sign_record(record, &signer) {
            Ok(()) => Ok(None),
            Err(e) if required => Err(e.context(format!(
                "{} requires signatures, and the record could not be signed",
                environment.name
            ))),
            Err(e) => Ok(Some(format!("the record is not signed: {e:#}"))),
        },
        KeyState::Broken(e) if required => Err(e.context(format!(
            "{} requires signatures, and your signing key cannot be used",
            environment.name
        ))),
        KeyState::Broken(e) => Ok(Some(format!("the record is not signed: {e:#}"))),
        KeyState::None(_) if !required => Ok(None),
        KeyState::None(why) => Err(no_key_error(&environment.name, &why)),
    }
}

/// Checks, before signing, that a signature by `signer` would count: the allowed signers
/// exist and list its key. A record signed by a key they do not list would be refused by
/// `pushguard audit`, so the push is refused now instead.
fn key_is_allowed(repo: &Repo, config: &Config, signer: &Signer) -> Result<()> {
    let allowed = allowed_signers(repo, config)?
        .ok_or_else(|| anyhow!("no allowed signers file is configured, so no signature can count"))
        .hint("set `[trust] allowed_signers` in the config, or `git config gpg.ssh.allowedSignersFile <file>`")?;
    if allowed.principals_of(&signer.public).is_empty() {
        return Err(anyhow!(
            "your signing key `{}` ({}) is not in the allowed signers `{}`, so your record would not count",
            signer.configured,
            signer.public.fingerprint(ssh_key::HashAlg::Sha256),
            allowed.path.display()
        ))
        .hint(format!(
            "ask whoever keeps that file to add the line `<you@example.com> {}`",
            key_text(signer.public.key_data())
        ));
    }
    Ok(())
}

/// The hook's call: signs `record` as [`sign_for_push`] does, writes a warning or the
/// refusal; returns `true` when the push must be blocked.
pub fn sign_in_hook(
    err: &mut impl std::io::Write,
    repo: &Repo,
    config: &Config,
    environment: &Environment,
    record: &mut Record,
) -> std::io::Result<bool> {
    match sign_for_push(repo, config, environment, record) {
        Ok(None) => Ok(false),
        Ok(Some(warning)) => {
            writeln!(err, "pushguard: warning: {warning}")?;
            Ok(false)
        }
        Err(e) => {
            write_error(err, &e)?;
            Ok(true)
        }
    }
}

/// Signs an approval when the approver has a key; returns the key's description. Without a
/// key the approval stays unsigned, unless the environment requires signatures: then `Err`
/// with the setup lines, as it would count for nothing.
pub fn sign_approval(
    repo: &Repo,
    config: &Config,
    environment: &Environment,
    approval: &mut crate::notes::Approval,
) -> Result<Option<String>> {
    let payload = approval_payload(&approval.environment, &approval.commit, &approval.tree);
    match key_state(repo) {
        KeyState::Ready(signer) => {
            approval.signature = Some(signer.sign(APPROVAL_NAMESPACE, &payload)?);
            Ok(Some(signer.configured.clone()))
        }
        KeyState::Broken(e) => Err(e),
        KeyState::None(why) if required(config, environment) => {
            Err(no_key_error(&environment.name, &why)
                .context("an unsigned approval would not count"))
        }
        KeyState::None(_) => Ok(None),
    }
}

/// Signs a waiver with the author's key when they have one; with signatures required for the
/// environment, a missing key is an error (an unsigned waiver would not count there).
/// Returns the key used.
pub fn sign_waiver(
    repo: &Repo,
    config: &Config,
    environment: &Environment,
    waiver: &mut crate::notes::Waiver,
) -> Result<Option<String>> {
    let payload = waiver_payload(
        &waiver.check,
        &waiver.environment,
        &waiver.commit,
        &waiver.reason,
    );
    match key_state(repo) {
        KeyState::Ready(signer) => {
            waiver.signature = Some(signer.sign(WAIVER_NAMESPACE, &payload)?);
            Ok(Some(signer.configured.clone()))
        }
        KeyState::Broken(e) => Err(e),
        KeyState::None(why) if required(config, environment) => {
            Err(no_key_error(&environment.name, &why).context("an unsigned waiver would not count"))
        }
        KeyState::None(_) => Ok(None),
    }
}

/// The principals the allowed signers give this clone's signing key (who you are, where
/// signatures are required); `None` without a key or an allowed signers file that lists it.
pub fn own_principals(repo: &Repo, config: &Config) -> Option<Vec<String>> {
    let KeyState::Ready(signer) = key_state(repo) else {
        return None;
    };
    let allowed = allowed_signers(repo, config).ok()??;
    let principals: Vec<String> = allowed
        .principals_of(&signer.public)
        .iter()
        .flat_map(|p| {
            p.split(',')
                .map(|p| p.trim().to_owned())
                .collect::<Vec<_>>()
        })
        .filter(|p| !p.is_empty())
        .collect();
    (!principals.is_empty()).then_some(principals)
}

/// The error for a pusher with no signing key where signatures are required.
pub fn no_key_error(environment: &str, why: &str) -> anyhow::Error {
    let mut e = anyhow!(
        "{environment} requires signatures, and you have no SSH signing key configured ({why})"
    );
    for line in SETUP_LINES.iter().rev() {
        e = crate::outcome::with_hint(e, format!("  {line}"));
    }
    crate::outcome::with_hint(
        e,
        "set up SSH signing (git's own; the key must be in the allowed signers):",
    )
}

/// Writes an error and its hints as the hook prints a refusal.
pub fn write_error(err: &mut impl std::io::Write, e: &anyhow::Error) -> std::io::Result<()> {
    writeln!(err, "  ✗ {e:#}")?;
    if let Some(h) = e.downcast_ref::<crate::outcome::Hinted>() {
        for hint in &h.hints {
            writeln!(err, "    hint: {hint}")?;
        }
    }
    Ok(())
}

/// `pushguard status` lines: the signing key, the allowed signers, and who you are.
pub fn status_lines(repo: &Repo, config: &Config) -> Vec<String> {
    let mut out = Vec::new();
    let key = key_state(repo);
    let signer = match &key {
        KeyState::Ready(s) => {
            out.push(format!(
                "signing: {} ({}, {})",
                s.configured,
                s.public.algorithm(),
                s.public.fingerprint(ssh_key::HashAlg::Sha256)
            ));
            Some(s)
        }
        KeyState::None(why) => {
            out.push(format!("signing: no SSH signing key: {why}"));
            None
        }
        KeyState::Broken(e) => {
            out.push(format!("signing: the key cannot be used: {e:#}"));
            None
        }
    };
    let allowed = match allowed_signers_path(repo, config) {
        None => {
            out.push("allowed signers: none configured ([trust] allowed_signers or gpg.ssh.allowedSignersFile)".into());
            None
        }
        Some(p) => match AllowedSigners::load(&p) {
            Ok(a) => {
                out.push(format!(
                    "allowed signers: {} ({} key{})",
                    p.display(),
                    a.lines.len(),
                    if a.lines.len() == 1 { "" } else { "s" }
                ));
                Some(a)
            }
            Err(e) => {
                out.push(format!("allowed signers: {e:#}"));
                None
            }
        },
    };
    if let (Some(s), Some(a)) = (signer, &allowed) {
        let principals = a.principals_of(&s.public);
        out.push(if principals.is_empty() {
            "you are: not in the allowed signers (your signatures count for nobody)".into()
        } else {
            format!("you are: {}", principals.join(", "))
        });
    }
    let requiring: Vec<&str> = config
        .environments
        .iter()
        .filter(|e| required(config, e))
        .map(|e| e.name.as_str())
        .collect();
    if !requiring.is_empty() {
        out.push(format!("signatures required for: {}", requiring.join(", ")));
        if signer.is_none() {
            out.push(format!(
                "  blocked: pushes to {} need an SSH signing key; set one up with:",
                requiring.join(", ")
            ));
            for line in SETUP_LINES {
                out.push(format!("    {line}"));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowed_signers_lines_parse() {
        let l = parse_line(r#"ada@example.com,ada namespaces="git,pushguard-*" ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOdGyvvcAk7RzUzxAAKKDbp8XFKE1Tqe6mdOA8Rrj0hL ada"#).unwrap();
        assert_eq!(l.principals, "ada@example.com,ada");
        assert_eq!(
            l.options,
            vec![("namespaces".into(), Some("git,pushguard-*".into()))]
        );
        assert!(l.key.starts_with("ssh-ed25519 AAAA"));
        assert!(namespace_allowed(&l, RECORD_NAMESPACE));
        assert!(!namespace_allowed(&l, "file"));
        assert!(parse_line("ada@example.com").is_none());
        assert!(parse_line("ada@example.com cert-authority notakey AAAA").is_none());
    }

    #[test]
    fn record_payload_stops_before_prev() {
        assert_eq!(
            record_payload(br#"{"a":"x,\"prev\":y","prev":null,"signature":null,"hash":"h"}"#)
                .unwrap(),
            br#"{"a":"x,\"prev\":y"}"#.to_vec()
        );
        assert!(record_payload(b"{}").is_none());
    }

    #[test]
    fn armour_round_trips() {
        let body = "U1NIU0lH".repeat(20);
        let pem = armour(&body);
        assert!(pem.lines().all(|l| l.len() <= 70 || l.starts_with("-----")));
        let back: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        assert_eq!(back, body);
    }
}
