//! `create-user` and `create-token`.

use std::io::{BufRead as _, IsTerminal as _};

use anyhow::{Context as _, bail};
use clap::Args;
use rand::RngCore as _;

use crate::auth;
use crate::config::Config;
use crate::store::users;

#[derive(Debug, Args)]
pub(super) struct CreateUserArgs {
    /// Login name
    #[arg(long)]
    username: String,
    /// Read the password from the first line of standard input; without it a random one is generated and printed
    #[arg(long)]
    password_stdin: bool,
    /// Give the account every permission
    #[arg(long)]
    superuser: bool,
}

#[derive(Debug, Args)]
pub(super) struct CreateTokenArgs {
    /// The account the token acts as
    #[arg(long)]
    username: String,
    /// What the token is for, shown in token lists
    #[arg(long, default_value = "cli")]
    name: String,
}

pub(super) async fn create_user(config: &Config, args: CreateUserArgs) -> anyhow::Result<()> {
    let username = args.username.trim().to_owned();
    if username.is_empty() || username.len() > 150 {
        bail!("user name must be 1 to 150 characters");
    }
    let (password, generated) = if args.password_stdin {
        let stdin = std::io::stdin();
        if stdin.is_terminal() {
            eprintln!("password (input is echoed; end with Enter):");
        }
        let mut line = String::new();
        stdin.lock().read_line(&mut line).context("cannot read the password from standard input")?;
        // Exactly as typed: only the line ending goes.
        let password = line.strip_suffix('\n').map(|l| l.strip_suffix('\r').unwrap_or(l)).unwrap_or(&line).to_owned();
        (password, false)
    } else {
        let mut bytes = [0u8; 12];
        rand::rng().fill_bytes(&mut bytes);
        (hex::encode(bytes), true)
    };
    let hash = tokio::task::spawn_blocking(move || auth::hash_password(&password).map(|h| (h, password)))
        .await
        .context("password hashing task failed")??;
    let store = super::open_store(config).await?;
    let user = users::create(&store, &username, &hash.0, args.superuser).await?;
    println!("created {} {:?}", if user.is_superuser { "superuser" } else { "user" }, user.username);
    if generated {
        println!("generated password (shown once): {}", hash.1);
    }
    Ok(())
}

pub(super) async fn create_token(config: &Config, args: CreateTokenArgs) -> anyhow::Result<()> {
    let store = super::open_store(config).await?;
    let Some(user) = users::find_by_username(&store, &args.username).await? else {
        bail!("no user {:?}; create it first with `attendance-bridge create-user`", args.username);
    };
    let token = auth::generate_token();
    users::create_token(&store, user.id, &args.name, &token.hash, &token.prefix).await?;
    println!("API token for {:?} ({}); it is shown only now, store it safely:", user.username, args.name);
    println!("{}", token.token);
    Ok(())
}
