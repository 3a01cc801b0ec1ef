//! The README is the site admin's guide: it must keep up with the code it describes.

use bridge_e2e::workspace_root;

fn readme() -> String {
    std::fs::read_to_string(workspace_root().join("README.md")).expect("README.md")
}

/// The section under `## {title}`, up to the next `## ` heading.
fn section(text: &str, title: &str) -> String {
    let start = text.find(&format!("\n## {title}\n")).unwrap_or_else(|| panic!("the README has a `## {title}` section"));
    let rest = &text[start + 1..];
    let end = rest[3..].find("\n## ").map_or(rest.len(), |i| i + 3);
    rest[..end].to_owned()
}

#[test]
fn the_configuration_table_lists_every_setting() {
    let table = section(&readme(), "Configuration");
    let missing: Vec<&str> = attendance_bridge::config::sources::ENV_KEYS
        .iter()
        .map(|(name, _)| *name)
        .filter(|name| !table.contains(&format!("`{name}`")))
        .collect();
    assert!(missing.is_empty(), "settings missing from the README's configuration table: {missing:?}");
}

#[test]
fn the_guide_comes_in_the_order_an_admin_needs_it() {
    let text = readme();
    let order = [
        "Two commands",
        "Running it for real",
        "Connecting devices",
        "Configuration",
        "Shifts and rosters",
        "Plugins: shift rules and the CRM payload",
        "Sending days to the CRM",
        "REST API",
        "Dashboard and reports",
        "Operations",
        "Troubleshooting",
        "Security notes",
    ];
    let positions: Vec<usize> = order
        .iter()
        .map(|t| text.find(&format!("\n## {t}\n")).unwrap_or_else(|| panic!("the README has a `## {t}` section")))
        .collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "sections in the order {order:?}");
    assert!(text.contains("docs/screenshots/home.png"), "the introduction shows the dashboard");
    let two = section(&text, "Two commands");
    assert!(two.contains("./scripts/demo.sh") && two.contains("./scripts/test.sh"));
    let real = section(&text, "Running it for real");
    let toolchain = real.find("rustup target add wasm32-unknown-unknown").expect("the toolchain step");
    let build = real.find("cargo build --release").expect("the build step");
    assert!(toolchain < build, "the wasm target is installed before the build that needs it");
}

/// Examples use loopback addresses or placeholders only: an address copied from the guide must never
/// reach someone else's machine.
#[test]
fn examples_use_loopback_addresses_only() {
    let text = readme();
    let bytes = text.as_bytes();
    let mut found = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let starts_word = i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'.');
        if starts_word && bytes[i].is_ascii_digit() {
            let end = text[i..].find(|c: char| !(c.is_ascii_digit() || c == '.')).map_or(text.len(), |n| i + n);
            let candidate = text[i..end].trim_end_matches('.');
            if candidate.parse::<std::net::Ipv4Addr>().is_ok_and(|ip| !ip.is_loopback() && !ip.is_unspecified()) {
                found.push(candidate.to_owned());
            }
            i = end.max(i + 1);
        } else {
            i += 1;
        }
    }
    assert!(found.is_empty(), "non-loopback addresses in the README: {found:?}");
}
