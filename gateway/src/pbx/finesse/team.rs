//! The `Team` document of the Finesse REST API (`GET /finesse/api/Team/{id}`) as Cisco's
//! developer guide shows it: the team's users, each with `loginId`, `extension`, names, `state`
//! and, when not ready, a `reasonCode` (`ReasonCode` in some releases) with its `label`.
//! Finesse's errors come as `<ApiErrors><ApiError><ErrorMessage>`.

/// Largest team read: Finesse teams hold at most a few hundred agents.
pub const MAX_USERS: usize = 1_000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Team {
    pub name: String,
    pub users: Vec<TeamUser>,
}

/// One user of a team, as the summary in the `Team` document has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TeamUser {
    pub login_id: String,
    /// Empty while the agent is logged out on some releases.
    pub extension: String,
    pub first_name: String,
    pub last_name: String,
    /// Finesse's state word: `READY`, `NOT_READY`, `TALKING`, `WORK`, `LOGOUT`, ...
    pub state: String,
    /// The reason code's label (`Lunch Break`), when the agent gave one.
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TeamError {
    #[error("the answer is not XML: {0}")]
    NotXml(String),
    #[error("the answer is not a Team document (root <{0}>)")]
    NotATeam(String),
    #[error("the team has more than {MAX_USERS} users")]
    TooManyUsers,
}

/// Reads a `Team` document.
pub fn parse_team(xml: &str) -> Result<Team, TeamError> {
    let doc = roxmltree::Document::parse(xml).map_err(|e| TeamError::NotXml(e.to_string()))?;
    let root = doc.root_element();
    if !root.has_tag_name("Team") {
        return Err(TeamError::NotATeam(clip(root.tag_name().name())));
    }
    let users: Vec<_> = child(root, "users")
        .map(|u| u.children().filter(|n| n.has_tag_name("User")).collect())
        .unwrap_or_default();
    if users.len() > MAX_USERS {
        return Err(TeamError::TooManyUsers);
    }
    Ok(Team {
        name: text(root, "name"),
        users: users.into_iter().map(user).collect(),
    })
}

/// The message of a Finesse error document, if the body is one.
pub fn api_error(xml: &str) -> Option<String> {
    let doc = roxmltree::Document::parse(xml).ok()?;
    let find = |name: &str| {
        let node = doc.descendants().find(|n| n.has_tag_name(name))?;
        Some(clip(node.text()?.trim()))
    };
    find("ErrorMessage").or_else(|| find("ErrorType"))
}

fn user(node: roxmltree::Node<'_, '_>) -> TeamUser {
    let reason = node
        .children()
        .find(|n| n.tag_name().name().eq_ignore_ascii_case("reasonCode"))
        .map(|r| text(r, "label"))
        .filter(|l| !l.is_empty());
    TeamUser {
        login_id: text(node, "loginId"),
        extension: text(node, "extension"),
        first_name: text(node, "firstName"),
        last_name: text(node, "lastName"),
        state: text(node, "state"),
        reason,
    }
}

fn child<'a, 'i>(node: roxmltree::Node<'a, 'i>, name: &str) -> Option<roxmltree::Node<'a, 'i>> {
    node.children().find(|n| n.has_tag_name(name))
}

/// A child element's text, trimmed and capped (a field is a word or a name).
fn text(node: roxmltree::Node<'_, '_>, name: &str) -> String {
    child(node, name)
        .and_then(|n| n.text())
        .map(|t| clip(t.trim()))
        .unwrap_or_default()
}

/// At most 100 characters, without control characters: what Finesse sends ends up in log
/// lines and on the page.
fn clip(text: &str) -> String {
    text.chars().filter(|c| !c.is_control()).take(100).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The Team document of Cisco's Finesse REST API developer guide ("Team"), with a third
    /// user in the User document's spelling (`ReasonCode`); the fake Finesse serves it too.
    const GUIDE_TEAM: &str = include_str!("../../../../tests/fixtures/finesse/team.xml");

    #[test]
    fn the_guides_team_reads_with_states_and_reasons() {
        let team = parse_team(GUIDE_TEAM).unwrap();
        assert_eq!(team.name, "My Team");
        let got: Vec<_> = team
            .users
            .iter()
            .map(|u| (u.extension.as_str(), u.state.as_str(), u.reason.as_deref()))
            .collect();
        assert_eq!(
            got,
            [
                ("1001001", "LOGOUT", None),
                ("1001002", "NOT_READY", Some("Lunch Break")),
                ("1001003", "TALKING", Some("ignored while talking")),
            ]
        );
        assert_eq!(team.users[2].last_name, "Łęcka");
    }

    #[test]
    fn what_is_not_a_team_is_a_typed_error() {
        assert!(
            matches!(parse_team("<html>login</html>"), Err(TeamError::NotATeam(t)) if t == "html")
        );
        assert!(matches!(parse_team("not xml <"), Err(TeamError::NotXml(_))));
        assert!(matches!(parse_team(""), Err(TeamError::NotXml(_))));
        let bomb = r#"<?xml version="1.0"?><!DOCTYPE t [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;"><!ENTITY e "&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;"><!ENTITY f "&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;"><!ENTITY g "&f;&f;&f;&f;&f;&f;&f;&f;&f;&f;">]><Team><name>&g;</name></Team>"#;
        match parse_team(bomb) {
            Ok(team) => assert!(team.name.chars().count() <= 100),
            Err(e) => assert!(matches!(e, TeamError::NotXml(_))),
        }
        let many = format!(
            "<Team><users>{}</users></Team>",
            "<User><state>READY</state></User>".repeat(MAX_USERS + 1)
        );
        assert_eq!(parse_team(&many), Err(TeamError::TooManyUsers));
        assert_eq!(
            api_error("<ApiErrors><ApiError><ErrorType>Authorization Failure</ErrorType><ErrorMessage>Invalid Authorization</ErrorMessage></ApiError></ApiErrors>")
                .as_deref(),
            Some("Invalid Authorization")
        );
    }
}
