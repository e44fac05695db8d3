//! What a CloudFormation stack status means for the tool, so that waiting loops never string-match statuses.

/// The tool's view of a stack status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Health {
    /// An operation is running; wait.
    InProgress,
    /// Settled, and the last operation succeeded.
    Ready,
    /// Settled and updatable, but the last operation failed and was rolled back.
    RolledBack,
    /// Settled without ever having been created (holds no data): delete and create afresh.
    NeverCreated,
    /// UPDATE_ROLLBACK_FAILED: a human must continue the rollback.
    RollbackFailed,
    /// Another failed state that needs a human (DELETE_FAILED, UPDATE_FAILED, ROLLBACK_FAILED, ...).
    Failed,
    /// DELETE_COMPLETE.
    Deleted,
}

impl Health {
    pub fn of(status: &str) -> Health {
        match status {
            "CREATE_COMPLETE" | "UPDATE_COMPLETE" | "IMPORT_COMPLETE" => Health::Ready,
            "UPDATE_ROLLBACK_COMPLETE" | "IMPORT_ROLLBACK_COMPLETE" => Health::RolledBack,
            "ROLLBACK_COMPLETE" | "CREATE_FAILED" | "REVIEW_IN_PROGRESS" => Health::NeverCreated,
            "UPDATE_ROLLBACK_FAILED" => Health::RollbackFailed,
            "DELETE_COMPLETE" => Health::Deleted,
            s if s.ends_with("_IN_PROGRESS") => Health::InProgress,
            _ => Health::Failed,
        }
    }

    pub fn settled(self) -> bool {
        self != Health::InProgress
    }

    /// A change set can be applied to the stack as it is.
    pub fn updatable(self) -> bool {
        matches!(self, Health::Ready | Health::RolledBack)
    }
}

/// A resource status that marks a failure (`CREATE_FAILED`, `UPDATE_FAILED`, `DELETE_FAILED`, ...).
pub fn is_failure(resource_status: &str) -> bool {
    resource_status.ends_with("_FAILED")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_every_status() {
        let cases = [
            ("CREATE_COMPLETE", Health::Ready),
            ("UPDATE_COMPLETE", Health::Ready),
            ("UPDATE_ROLLBACK_COMPLETE", Health::RolledBack),
            ("ROLLBACK_COMPLETE", Health::NeverCreated),
            ("CREATE_FAILED", Health::NeverCreated),
            ("REVIEW_IN_PROGRESS", Health::NeverCreated),
            ("UPDATE_ROLLBACK_FAILED", Health::RollbackFailed),
            ("ROLLBACK_FAILED", Health::Failed),
            ("DELETE_FAILED", Health::Failed),
            ("UPDATE_FAILED", Health::Failed),
            ("DELETE_COMPLETE", Health::Deleted),
            ("UPDATE_COMPLETE_CLEANUP_IN_PROGRESS", Health::InProgress),
            ("UPDATE_ROLLBACK_IN_PROGRESS", Health::InProgress),
            ("CREATE_IN_PROGRESS", Health::InProgress),
        ];
        for (status, health) in cases {
            assert_eq!(Health::of(status), health, "{status}");
        }
        assert!(Health::of("UPDATE_ROLLBACK_COMPLETE").updatable());
        assert!(!Health::of("ROLLBACK_COMPLETE").updatable());
        assert!(is_failure("CREATE_FAILED") && !is_failure("CREATE_COMPLETE"));
    }
}
