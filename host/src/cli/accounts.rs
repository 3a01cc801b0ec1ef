//! `create-user`, `create-token` and `tokens list|revoke`.

use std::io::{BufRead as _, IsTerminal as _};

use anyhow::{Context as _, bail};
use clap::{Args, Subcommand};
use rand::RngCore as _;

use crate::auth;
use crate::config::Config;
use crate::domain::Role;
use crate::store::{tokens, users};

#[derive(Debug, Args)]
pub(super) struct CreateUserArgs {
    /// Login name
    #[arg(long)]
    username: String,
    /// Read the password from the first line of standard input; without it a random one is generated and printed
    #[arg(long)]
    password_stdin: bool,
    /// Give the account every permission (the same as --role admin)
    #[arg(long, conflicts_with = "role")]
    superuser: bool,
    /// What the account may do: `admin` (everything) or `viewer` (reads reports and data, changes nothing)
    #[arg(long, value_parser = parse_role, default_value = "viewer")]
    role: Role,
}

fn parse_role(text: &str) -> Result<Role, String> {
    text.parse()
}

#[derive(Debug, Args)]
pub(super) struct CreateTokenArgs {
    /// The account the token acts as
    #[arg(long)]
    username: String,
    /// What the token is for, shown in token lists
    #[arg(long, default_value = "cli")]
    name: String,
    /// The token stops working after this many days [default: never]
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=36_600))]
    expires_in_days: Option<u32>,
}

/// `tokens …` subcommands.
#[derive(Debug, Subcommand)]
pub(super) enum TokensCommand {
    /// List API tokens (prefix, owner, name, created, last used, expiry, state); never the tokens
    List {
        /// Only the tokens of this account
        #[arg(long)]
        user: Option<String>,
    },
    /// Revoke a token by its id or its prefix (as `tokens list` shows them); it stops working at once
    Revoke {
        /// Token id, or its prefix (`zkb_1a2b3c4d`)
        token: String,
    },
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
    let role = if args.superuser { Role::Admin } else { args.role };
    let user = users::create_with_role(&store, &username, &hash.0, role).await?;
    println!("created {} {:?} (role {})", if user.is_superuser { "superuser" } else { "user" }, user.username, user.role);
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
    let expires_at = args.expires_in_days.map(|days| chrono::Utc::now().naive_utc() + chrono::TimeDelta::days(i64::from(days)));
    let new = tokens::NewToken { user: user.id, name: &args.name, token_hash: &token.hash, token_prefix: &token.prefix, expires_at };
    tokens::issue(&store, &new).await?;
    match expires_at {
        None => println!("API token for {:?} ({}); it is shown only now, store it safely:", user.username, args.name),
        Some(at) => println!(
            "API token for {:?} ({}), valid until {} UTC; it is shown only now, store it safely:",
            user.username,
            args.name,
            at.format("%Y-%m-%d %H:%M")
        ),
    }
    println!("{}", token.token);
    Ok(())
}

pub(super) async fn tokens(config: &Config, command: TokensCommand) -> anyhow::Result<()> {
    match command {
        TokensCommand::List { user } => {
            let store = super::open_store_for(config, super::Access::Read).await?;
            if let Some(name) = &user
                && users::find_by_username(&store, name).await?.is_none()
            {
                bail!("no user {name:?}");
            }
            let list = tokens::list(&store, user.as_deref()).await?;
            if list.is_empty() {
                println!("no API tokens");
                return Ok(());
            }
            let now = chrono::Utc::now().naive_utc();
            let when = |t: Option<chrono::NaiveDateTime>| t.map_or_else(|| "-".to_owned(), |t| t.format("%Y-%m-%d %H:%M").to_string());
            println!("{:<6} {:<13} {:<16} {:<20} {:<16} {:<16} {:<16} STATE", "ID", "PREFIX", "USER", "NAME", "CREATED", "LAST USED", "EXPIRES");
            for item in list {
                let t = &item.token;
                let state = if t.revoked_at.is_some() {
                    "revoked"
                } else if t.expires_at.is_some_and(|at| at <= now) {
                    "expired"
                } else {
                    "active"
                };
                println!(
                    "{:<6} {:<13} {:<16} {:<20} {:<16} {:<16} {:<16} {state}",
                    t.id,
                    t.token_prefix,
                    item.username,
                    t.name,
                    when(Some(t.created_at)),
                    when(t.last_used_at),
                    when(t.expires_at)
                );
            }
            Ok(())
        }
        TokensCommand::Revoke { token } => {
            let store = super::open_store(config).await?;
            let revoked = tokens::revoke(&store, &tokens::TokenRef::parse(&token)).await?;
            println!("revoked API token {} ({}, {:?})", revoked.id, revoked.token_prefix, revoked.name);
            Ok(())
        }
    }
}
