//! Real hosts for server mode (issue 20): gitolite behind its own `sshd`, and
//! `git http-backend` behind Apache (mod_cgi, Basic authentication), each serving one
//! repository, `app`, to two users with their own credentials, alice and bob.
//!
//! The hosts come from Debian's packages (`gitolite3`, `openssh-server`, `apache2`,
//! `apache2-utils`), which `.ci/run` installs; the tests that use them are `#[ignore]`d with
//! [`NEEDS`] and `.ci/run` runs them explicitly (`cargo test --test main -- --ignored
//! hosted::`). Run that way on a machine without the packages, a test fails and names them.
//!
//! Each host is set up the way an administrator would: gitolite with `gitolite setup`, users
//! and repositories added by pushing gitolite-admin, pushguard through `LOCAL_CODE`,
//! `repo-specific-hooks` and `option hook.<hook>` (`pushguard install` in the repository
//! writes the hooks into `LOCAL_CODE`); Apache with a config of its own that runs
//! `git http-backend` as a CGI, the repository owned by the account Apache runs CGIs as
//! (`www-data` when the tests run as root) and pushguard installed with `pushguard install`.
//! Every server listens on 127.0.0.1 only, on a free port, lives at most [`SERVER_LIFETIME`],
//! and is killed with its process group when the [`Hosted`] is dropped, passing or failing.
//! Every command is bounded by [`COMMAND_TIMEOUT`].
//!
//! Tests on top of this harness take a [`Hosted`] and use its clients (`alice`, `bob`): see
//! `tests/hosted.rs`.

use std::net::TcpStream;
use std::os::unix::fs::MetadataExt as _;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{bin, run_bounded, Run, TestRepo};

/// Why the hosted tests are ignored by a plain `cargo test`.
pub const NEEDS: &str =
    "needs gitolite3, openssh-server, apache2 and apache2-utils (.ci/run installs them and runs `cargo test --test main -- --ignored hosted::`)";

/// How long a server may live if nothing kills it (the test process died, say).
pub const SERVER_LIFETIME: Duration = Duration::from_secs(300);
/// How long one command may take before the test kills it and fails.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);
/// The users of every host.
pub const USERS: [&str; 2] = ["alice", "bob"];
/// Every user's password behind Apache.
const PASSWORD: &str = "s3cret";
/// gitolite's rc values that pushguard needs (as `pushguard install` prints them).
const GIT_CONFIG_KEYS: &str = r"receive\.advertisePushOptions receive\.certNonceSeed receive\.certNonceSlop gpg\.ssh\.allowedSignersFile";

/// Which host serves the repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// gitolite behind sshd: the pusher is `GL_USER`.
    Gitolite,
    /// `git http-backend` behind Apache: the pusher is `REMOTE_USER`.
    Apache,
}

/// A server process group, killed when dropped.
struct Served {
    child: Child,
    logs: Vec<PathBuf>,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One hosted repository, `app`, its server running, and what the test needs to use it.
pub struct Hosted {
    /// The temp dir, `HOME` and the hermetic environment of every command.
    pub t: TestRepo,
    pub kind: Kind,
    /// The repository on the server.
    pub bare: PathBuf,
    /// The account that owns the repository and runs the hooks, when not the test's own.
    owner: Option<(u32, u32)>,
    /// The pushguard binary the server's hooks run: one that account can reach.
    bin: PathBuf,
    port: u16,
    /// gitolite's hosting account's home.
    gl_home: PathBuf,
    /// git config lines gitolite.conf gives the repository (gitolite only).
    gl_config: Vec<(String, String)>,
    /// Access rules gitolite.conf puts before `RW+ = alice bob` (gitolite only).
    gl_rules: Vec<String>,
    // Declared last: dropped (killed) after everything above is no longer needed.
    servers: Vec<Served>,
}

/// Tells whether `program` is installed (on `PATH`, or at an absolute path).
fn installed(program: &str) -> bool {
    if program.starts_with('/') {
        return Path::new(program).exists();
    }
    std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/sbin")])
        .any(|d| d.join(program).exists())
}

/// Fails the test, naming what is missing, unless every program is installed.
fn require(programs: &[&str]) {
    let missing: Vec<&str> = programs.iter().copied().filter(|p| !installed(p)).collect();
    assert!(
        missing.is_empty(),
        "skipped: not installed: {} ({NEEDS}); this counts as a failure when run explicitly",
        missing.join(", ")
    );
}

fn is_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// The test user's name (sshd logs gitolite's users in as it).
fn user_name() -> String {
    let out = Command::new("id").arg("-un").output().expect("run id");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// A port of 127.0.0.1 that was free a moment ago.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// Waits until 127.0.0.1:`port` accepts connections or `child` has exited.
fn listening(port: u16, child: &mut Child) -> bool {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(15) {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return true;
        }
        if child.try_wait().ok().flatten().is_some() {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// Runs `cmd`, bounded by [`COMMAND_TIMEOUT`].
pub fn bounded(cmd: &mut Command) -> Run {
    run_bounded(cmd, COMMAND_TIMEOUT)
}

/// Runs `cmd` and fails the test with its transcript unless it succeeds.
#[track_caller]
fn ok(cmd: &mut Command) -> Run {
    let what = format!("{cmd:?}");
    let run = bounded(cmd);
    assert_eq!(
        run.code, 0,
        "{what} failed\n--- stdout\n{}\n--- stderr\n{}",
        run.stdout, run.stderr
    );
    run
}

impl Hosted {
    /// gitolite behind its own sshd, `app` readable and writable (`RW+`) by alice and bob, and
    /// pushguard hooked in through gitolite with `server_config` as the repository's
    /// `pushguard.toml`.
    pub fn gitolite(server_config: &str) -> Hosted {
        require(&["gitolite", "sshd", "ssh", "ssh-keygen"]);
        let t = TestRepo::new();
        let gl_home = t.root.join("gitolite-home");
        std::fs::create_dir_all(&gl_home).unwrap();
        let mut h = Hosted {
            bare: gl_home.join("repositories/app.git"),
            t,
            kind: Kind::Gitolite,
            owner: None,
            bin: bin(),
            port: 0,
            gl_home,
            gl_config: vec![("receive.advertisePushOptions".to_owned(), "true".to_owned())],
            gl_rules: Vec::new(),
            servers: Vec::new(),
        };
        for user in ["admin", USERS[0], USERS[1]] {
            h.keygen(user);
        }
        let admin_pub = h.key("admin").with_extension("pub");
        ok(h.as_host("gitolite")
            .arg("setup")
            .arg("-pk")
            .arg(&admin_pub));
        // The administrator's edits of ~/.gitolite.rc: LOCAL_CODE, repo-specific-hooks, and
        // the git config keys gitolite.conf may set.
        let rc_path = h.gl_home.join(".gitolite.rc");
        let rc = std::fs::read_to_string(&rc_path).unwrap();
        let edited = rc
            .replacen(
                "# LOCAL_CODE                =>  \"$ENV{HOME}/local\",",
                "LOCAL_CODE                =>  \"$ENV{HOME}/local\",",
                1,
            )
            .replacen("# 'repo-specific-hooks',", "'repo-specific-hooks',", 1)
            .replacen(
                "GIT_CONFIG_KEYS                 =>  '',",
                &format!("GIT_CONFIG_KEYS                 =>  '{GIT_CONFIG_KEYS}',"),
                1,
            );
        assert_eq!(
            edited.matches("repo-specific-hooks").count(),
            rc.matches("repo-specific-hooks").count(),
        );
        assert_ne!(rc, edited, "gitolite's rc did not have the expected lines");
        std::fs::write(&rc_path, edited).unwrap();
        h.start_sshd();
        // The repository and its users, as the administrator adds them: through gitolite-admin.
        let admin = h.t.root.join("gitolite-admin");
        ok(h.git_cmd(&h.t.root)
            .args([
                "clone",
                "-q",
                &h.url_of("admin", "gitolite-admin"),
                "gitolite-admin",
            ])
            .env("GIT_SSH_COMMAND", h.ssh_command("admin")));
        for user in USERS {
            std::fs::copy(
                h.key(user).with_extension("pub"),
                admin.join(format!("keydir/{user}.pub")),
            )
            .unwrap();
        }
        h.push_admin_conf(false);
        // pushguard, installed as gitolite expects: `pushguard install` in the repository writes
        // the hooks into LOCAL_CODE, and gitolite.conf names them for this repository.
        h.write_server_file("pushguard.toml", server_config);
        let install = ok(h.as_host(&h.bin).arg("install").current_dir(&h.bare));
        assert!(
            install.stderr.contains("pushguard-pre-receive"),
            "{}",
            install.stderr
        );
        h.push_admin_conf(true);
        h
    }

    /// `git http-backend` behind Apache with Basic authentication for alice and bob, the
    /// repository owned by the account Apache runs CGIs as, pushguard installed in it with
    /// `server_config` as its `pushguard.toml`.
    pub fn apache(server_config: &str) -> Hosted {
        require(&["apache2", "htpasswd"]);
        let t = TestRepo::new();
        let srv = t.root.join("srv");
        std::fs::create_dir_all(&srv).unwrap();
        // Apache's CGIs run as www-data when it starts as root: they must reach the repository
        // (and the binary its hooks run).
        std::fs::set_permissions(&t.root, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        let owner = is_root().then(|| {
            let id = |flag: &str| {
                let out = Command::new("id")
                    .args([flag, "www-data"])
                    .output()
                    .unwrap();
                String::from_utf8_lossy(&out.stdout)
                    .trim()
                    .parse::<u32>()
                    .unwrap()
            };
            (id("-u"), id("-g"))
        });
        let bin = crate::support::bin_for_any_user(&t.root);
        let mut h = Hosted {
            bare: srv.join("app.git"),
            t,
            kind: Kind::Apache,
            owner,
            bin,
            port: 0,
            gl_home: PathBuf::new(),
            gl_config: Vec::new(),
            gl_rules: Vec::new(),
            servers: Vec::new(),
        };
        for user in USERS {
            h.keygen(user);
        }
        ok(h.git_cmd(&srv).args(["init", "-q", "--bare", "app.git"]));
        h.chown_tree(&srv);
        h.write_server_file("pushguard.toml", server_config);
        ok(h.as_host(&h.bin).arg("install").current_dir(&h.bare));
        h.server_config("receive.advertisePushOptions", "true");
        let htpasswd = h.t.root.join("htpasswd");
        for (i, user) in USERS.iter().enumerate() {
            let mut cmd = h.t.command("htpasswd");
            cmd.arg("-bB");
            if i == 0 {
                cmd.arg("-c");
            }
            ok(cmd.arg(&htpasswd).args([user, PASSWORD]));
        }
        h.start_apache();
        h
    }

    // --- the server side -------------------------------------------------------------------

    /// A command run as the account that hosts the repository (gitolite's `HOME`; Apache's
    /// CGI user), with the hermetic environment.
    pub fn as_host(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut cmd = self.t.command(program);
        cmd.current_dir(&self.t.root);
        if self.kind == Kind::Gitolite {
            cmd.env("HOME", &self.gl_home);
        }
        if let Some((uid, gid)) = self.owner {
            cmd.uid(uid).gid(gid).env("HOME", &self.t.root);
        }
        cmd
    }

    /// The name of the account that owns the repository, when it is not the test's own.
    pub fn owner_name(&self) -> Option<&'static str> {
        self.owner.map(|_| "www-data")
    }

    /// Runs pushguard in the repository on the server as its owner.
    pub fn server_pushguard(&self, args: &[&str]) -> Run {
        bounded(self.as_host(&self.bin).args(args).current_dir(&self.bare))
    }

    /// A git command of the test's own (client side) in `dir`.
    fn git_cmd(&self, dir: &Path) -> Command {
        let mut cmd = self.t.command("git");
        cmd.current_dir(dir);
        cmd
    }

    /// git in the server's repository, read as the test user (git's safe.directory allows it
    /// for this command only).
    pub fn server_git(&self, args: &[&str]) -> Run {
        bounded(
            self.git_cmd(&self.bare)
                .args(["-c", "safe.directory=*"])
                .args(args),
        )
    }

    /// The server's value of `refs/heads/<branch>`.
    pub fn branch(&self, branch: &str) -> Option<String> {
        let run = self.server_git(&[
            "rev-parse",
            "--verify",
            "-q",
            &format!("refs/heads/{branch}"),
        ]);
        (run.code == 0).then(|| run.stdout.trim().to_owned())
    }

    /// The server's value of any ref.
    pub fn server_ref(&self, name: &str) -> Option<String> {
        let run = self.server_git(&["rev-parse", "--verify", "-q", name]);
        (run.code == 0).then(|| run.stdout.trim().to_owned())
    }

    /// The server's audit records.
    pub fn records(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(self.bare.join("pushguard/audit.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).expect("a JSON record"))
            .collect()
    }

    /// The server's last audit record.
    #[track_caller]
    pub fn last_record(&self) -> serde_json::Value {
        self.records().pop().expect("a server record")
    }

    /// Writes `name` in the server's repository, owned by the account that hosts it.
    pub fn write_server_file(&self, name: &str, text: &str) {
        let path = self.bare.join(name);
        std::fs::write(&path, text).unwrap();
        self.chown_tree(&path);
    }

    fn chown_tree(&self, path: &Path) {
        if let Some((uid, gid)) = self.owner {
            ok(Command::new("chown")
                .arg("-R")
                .arg(format!("{uid}:{gid}"))
                .arg(path));
        }
    }

    /// Sets a git config key of the server's repository the host's way: through gitolite.conf
    /// (a push of gitolite-admin) on gitolite, with `git config` as the owner elsewhere.
    pub fn server_config(&mut self, key: &str, value: &str) {
        match self.kind {
            Kind::Gitolite => {
                self.gl_config.push((key.to_owned(), value.to_owned()));
                self.push_admin_conf(true);
            }
            Kind::Apache => {
                ok(self
                    .as_host("git")
                    .current_dir(&self.bare)
                    .args(["config", key, value]));
            }
        }
    }

    /// Denies `user` writes to `branch` through gitolite's access rules, which its `update`
    /// hook checks after pre-receive (gitolite only).
    pub fn deny(&mut self, branch: &str, user: &str) {
        assert_eq!(self.kind, Kind::Gitolite, "access rules are gitolite's");
        self.gl_rules
            .push(format!("    -       refs/heads/{branch}$   =   {user}\n"));
        self.push_admin_conf(true);
    }

    /// What the servers logged so far (for failure messages).
    pub fn log(&self) -> String {
        self.servers
            .iter()
            .flat_map(|s| &s.logs)
            .map(|log| std::fs::read_to_string(log).unwrap_or_default())
            .collect::<Vec<_>>()
            .join("\n")
    }

    // --- the clients -----------------------------------------------------------------------

    /// `user`'s SSH key (also their signing key).
    pub fn key(&self, user: &str) -> PathBuf {
        self.t.root.join("keys").join(user)
    }

    fn keygen(&self, user: &str) {
        std::fs::create_dir_all(self.t.root.join("keys")).unwrap();
        ok(self
            .t
            .command("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-C", user, "-f"])
            .arg(self.key(user)));
    }

    /// The repository's URL for `user` (gitolite: `ssh://<account>@127.0.0.1:<port>/app`;
    /// Apache: `http://<user>:<password>@127.0.0.1:<port>/git/app.git`).
    pub fn url(&self, user: &str) -> String {
        self.url_of(user, "app")
    }

    fn url_of(&self, user: &str, repo: &str) -> String {
        match self.kind {
            Kind::Gitolite => format!("ssh://{}@127.0.0.1:{}/{repo}", user_name(), self.port),
            Kind::Apache => format!(
                "http://{user}:{PASSWORD}@127.0.0.1:{}/git/{repo}.git",
                self.port
            ),
        }
    }

    fn ssh_command(&self, user: &str) -> String {
        format!(
            "ssh -F /dev/null -i {} -o IdentitiesOnly=yes -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -o ConnectTimeout=10",
            self.key(user).display()
        )
    }

    /// A clone of `app` for `user` at `<root>/<user>`, with git's identity
    /// `<user>@example.com` and, over ssh, `user`'s key. No pushguard hook is installed: the
    /// server alone gates it.
    pub fn clone_as(&self, user: &str) -> PathBuf {
        let dir = self.t.root.join(user);
        let mut clone = self.git_cmd(&self.t.root);
        clone.args(["clone", "-q", &self.url(user), user]);
        if self.kind == Kind::Gitolite {
            clone.env("GIT_SSH_COMMAND", self.ssh_command(user));
        }
        ok(&mut clone);
        let set = |k: &str, v: &str| {
            ok(self.git_cmd(&dir).args(["config", k, v]));
        };
        set("user.name", user);
        set("user.email", &format!("{user}@example.com"));
        if self.kind == Kind::Gitolite {
            set("core.sshCommand", &self.ssh_command(user));
        }
        dir
    }

    /// git in a client clone, bounded.
    pub fn git(&self, dir: &Path, args: &[&str]) -> Run {
        bounded(self.git_cmd(dir).args(args))
    }

    /// `git push <args>` in a client clone, bounded.
    pub fn push(&self, dir: &Path, args: &[&str]) -> Run {
        bounded(self.git_cmd(dir).arg("push").args(args))
    }

    /// pushguard in a client clone, bounded.
    pub fn pushguard(&self, dir: &Path, args: &[&str]) -> Run {
        bounded(self.t.command(bin()).current_dir(dir).args(args))
    }

    /// Commits an empty commit with `message` in a client clone; returns its id.
    pub fn commit(&self, dir: &Path, message: &str) -> String {
        ok(self
            .git_cmd(dir)
            .args(["commit", "-q", "--allow-empty", "-m", message]));
        ok(self.git_cmd(dir).args(["rev-parse", "HEAD"]))
            .stdout
            .trim()
            .to_owned()
    }

    // --- starting the servers --------------------------------------------------------------

    fn spawn(&self, args: &[&str], log: &Path) -> Child {
        self.t
            .command("timeout")
            .current_dir(&self.t.root)
            .arg(format!("{}s", SERVER_LIFETIME.as_secs()))
            .args(args)
            .process_group(0)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log).expect("server log"))
            .spawn()
            .expect("start the server")
    }

    /// sshd on 127.0.0.1 with its own config and host key, logging gitolite's users in as the
    /// test user with gitolite's forced commands from the hosting account's authorized_keys.
    fn start_sshd(&mut self) {
        if is_root() {
            // sshd's privilege separation directory (the package's service would create it).
            std::fs::create_dir_all("/run/sshd").unwrap();
        }
        let dir = self.t.root.join("sshd");
        std::fs::create_dir_all(&dir).unwrap();
        let host_key = dir.join("host_key");
        ok(self
            .t
            .command("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(&host_key));
        let sshd = ["/usr/sbin/sshd", "sshd"]
            .into_iter()
            .find(|p| installed(p))
            .unwrap();
        for attempt in 0..5 {
            let port = free_port();
            let config = dir.join("sshd_config");
            std::fs::write(
                &config,
                format!(
                    "Port {port}\nListenAddress 127.0.0.1\nHostKey {}\nPidFile {}\nAuthorizedKeysFile {}\nStrictModes no\nPermitRootLogin prohibit-password\nPasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\nSetEnv HOME={}\nLogLevel VERBOSE\nMaxStartups 50\n",
                    host_key.display(),
                    dir.join("sshd.pid").display(),
                    self.gl_home.join(".ssh/authorized_keys").display(),
                    self.gl_home.display(),
                ),
            )
            .unwrap();
            let log = dir.join(format!("sshd-{attempt}.log"));
            let mut child = self.spawn(&[sshd, "-D", "-e", "-f", config.to_str().unwrap()], &log);
            let up = listening(port, &mut child);
            self.servers.push(Served {
                child,
                logs: vec![log],
            });
            if up {
                self.port = port;
                return;
            }
        }
        panic!("sshd did not start on 127.0.0.1\n{}", self.log());
    }

    /// gitolite-admin's conf: `app` for alice and bob (`RW+`: gitolite allows them to rewind
    /// anything, so what protects the trail is pushguard), with pushguard's hooks when
    /// `hooks` is set, and the git config lines.
    fn push_admin_conf(&self, hooks: bool) {
        let admin = self.t.root.join("gitolite-admin");
        let mut conf = String::from("repo gitolite-admin\n    RW+     =   admin\n\nrepo app\n");
        for rule in &self.gl_rules {
            conf += rule;
        }
        conf += "    RW+     =   alice bob\n";
        if hooks {
            conf += "    option hook.pre-receive = pushguard-pre-receive\n";
            conf += "    option hook.post-receive = pushguard-post-receive\n";
        }
        for (key, value) in &self.gl_config {
            conf += &format!("    config {key} = {value}\n");
        }
        std::fs::write(admin.join("conf/gitolite.conf"), conf).unwrap();
        ok(self.git_cmd(&admin).args(["add", "-A"]));
        let commit = bounded(self.git_cmd(&admin).args([
            "-c",
            "user.name=Admin",
            "-c",
            "user.email=admin@example.com",
            "commit",
            "-q",
            "-m",
            "conf",
        ]));
        if commit.code != 0 && commit.stdout.contains("nothing to commit") {
            return;
        }
        let push = bounded(
            self.git_cmd(&admin)
                .args(["push", "-q", "origin", "HEAD:master"])
                .env("GIT_SSH_COMMAND", self.ssh_command("admin")),
        );
        assert_eq!(
            push.code,
            0,
            "pushing gitolite-admin failed\n{}\n--- sshd\n{}",
            push.stderr,
            self.log()
        );
        assert!(
            !push.stderr.contains("WARNING"),
            "gitolite warned:\n{}",
            push.stderr
        );
    }

    /// Apache with a config of its own: mod_cgi runs `git http-backend` under `/git/`, Basic
    /// authentication names the pusher in `REMOTE_USER`.
    fn start_apache(&mut self) {
        let dir = self.t.root.join("apache");
        std::fs::create_dir_all(&dir).unwrap();
        let exec_path = ok(self.t.command("git").arg("--exec-path"))
            .stdout
            .trim()
            .to_owned();
        let modules = "/usr/lib/apache2/modules";
        let user = if self.owner.is_some() {
            "User www-data\nGroup www-data\n"
        } else {
            ""
        };
        for attempt in 0..5 {
            let port = free_port();
            let config = dir.join("httpd.conf");
            let mut text = format!(
                "ServerRoot \"{dir}\"\nServerName 127.0.0.1\nListen 127.0.0.1:{port}\nPidFile {dir}/httpd.pid\nErrorLog {dir}/error.log\nLogLevel warn\nTimeout 60\nStartServers 2\n{user}",
                dir = dir.display()
            );
            for (name, file) in [
                ("mpm_prefork_module", "mod_mpm_prefork.so"),
                ("authz_core_module", "mod_authz_core.so"),
                ("authn_core_module", "mod_authn_core.so"),
                ("authn_file_module", "mod_authn_file.so"),
                ("auth_basic_module", "mod_auth_basic.so"),
                ("authz_user_module", "mod_authz_user.so"),
                ("alias_module", "mod_alias.so"),
                ("cgi_module", "mod_cgi.so"),
                ("env_module", "mod_env.so"),
            ] {
                text += &format!("LoadModule {name} {modules}/{file}\n");
            }
            text += &format!(
                "LogFormat \"%h %u \\\"%r\\\" %>s\" common\nCustomLog {dir}/access.log common\nSetEnv GIT_PROJECT_ROOT {srv}\nSetEnv GIT_HTTP_EXPORT_ALL 1\nScriptAlias /git/ {exec_path}/git-http-backend/\n<Location /git/>\n    AuthType Basic\n    AuthName \"git\"\n    AuthUserFile {htpasswd}\n    Require valid-user\n</Location>\n",
                dir = dir.display(),
                srv = self.bare.parent().unwrap().display(),
                htpasswd = self.t.root.join("htpasswd").display(),
            );
            std::fs::write(&config, text).unwrap();
            let log = dir.join(format!("stderr-{attempt}.log"));
            let mut child = self.spawn(
                &["apache2", "-f", config.to_str().unwrap(), "-DFOREGROUND"],
                &log,
            );
            let up = listening(port, &mut child);
            self.servers.push(Served {
                child,
                logs: vec![log, dir.join("error.log")],
            });
            if up {
                self.port = port;
                return;
            }
        }
        panic!("apache2 did not start on 127.0.0.1\n{}", self.log());
    }
}
