//! What a CloudFormation stack status means for the tool, so that waiting loops never string-match statuses.

use aws_sdk_cloudformation::types::{ResourceStatus, StackStatus};

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
    /// The tool's view of a stack status. Matched on the SDK's typed enum: a status CloudFormation adds later
    /// (unknown to this SDK) counts as in progress when it says so, otherwise as a failure that needs a human.
    pub fn of(status: &StackStatus) -> Health {
        match status {
            StackStatus::CreateComplete | StackStatus::UpdateComplete | StackStatus::ImportComplete => Health::Ready,
            StackStatus::UpdateRollbackComplete | StackStatus::ImportRollbackComplete => Health::RolledBack,
            StackStatus::RollbackComplete | StackStatus::CreateFailed | StackStatus::ReviewInProgress => {
                Health::NeverCreated
            }
            StackStatus::UpdateRollbackFailed => Health::RollbackFailed,
            StackStatus::DeleteComplete => Health::Deleted,
            StackStatus::CreateInProgress
            | StackStatus::DeleteInProgress
            | StackStatus::ImportInProgress
            | StackStatus::ImportRollbackInProgress
            | StackStatus::RollbackInProgress
            | StackStatus::UpdateCompleteCleanupInProgress
            | StackStatus::UpdateInProgress
            | StackStatus::UpdateRollbackCompleteCleanupInProgress
            | StackStatus::UpdateRollbackInProgress => Health::InProgress,
            StackStatus::DeleteFailed
            | StackStatus::ImportRollbackFailed
            | StackStatus::RollbackFailed
            | StackStatus::UpdateFailed => Health::Failed,
            other if other.as_str().ends_with("_IN_PROGRESS") => Health::InProgress,
            _ => Health::Failed,
        }
    }

    /// The same for a status given as text (a stack-level event's status, a stored tag).
    pub fn of_str(status: &str) -> Health {
        Health::of(&StackStatus::from(status))
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
pub fn is_failure(resource_status: &ResourceStatus) -> bool {
    matches!(
        resource_status,
        ResourceStatus::CreateFailed
            | ResourceStatus::DeleteFailed
            | ResourceStatus::ImportFailed
            | ResourceStatus::ImportRollbackFailed
            | ResourceStatus::RollbackFailed
            | ResourceStatus::UpdateFailed
            | ResourceStatus::UpdateRollbackFailed
    ) || resource_status.as_str().ends_with("_FAILED")
}

/// A resource status that marks a finished step (`CREATE_COMPLETE`, `UPDATE_COMPLETE`, ...), for progress counts.
pub fn is_complete(resource_status: &ResourceStatus) -> bool {
    matches!(
        resource_status,
        ResourceStatus::CreateComplete
            | ResourceStatus::DeleteComplete
            | ResourceStatus::DeleteSkipped
            | ResourceStatus::ImportComplete
            | ResourceStatus::UpdateComplete
    )
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
            assert_eq!(Health::of_str(status), health, "{status}");
        }
        assert!(Health::of_str("UPDATE_ROLLBACK_COMPLETE").updatable());
        assert!(!Health::of_str("ROLLBACK_COMPLETE").updatable());
        assert_eq!(Health::of_str("SOME_NEW_IN_PROGRESS"), Health::InProgress);
        assert_eq!(Health::of_str("SOME_NEW_STATE"), Health::Failed);
        assert!(is_failure(&ResourceStatus::CreateFailed) && !is_failure(&ResourceStatus::CreateComplete));
        assert!(is_complete(&ResourceStatus::UpdateComplete) && !is_complete(&ResourceStatus::UpdateInProgress));
    }
}
