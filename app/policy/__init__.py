"""THE access rules. No other module decides who may see or do what.

`can_<verb>_<thing>(user, obj) -> bool` answers one question; `visible_<things>(user)` returns a
query scope; `get_visible_or_404()` loads an object or answers 404 (never 403, so that nothing
reveals that another person's record exists).
"""
from app.policy.base import *  # noqa: F403
from app.policy.clients import *  # noqa: F403
from app.policy.homework import *  # noqa: F403
from app.policy.loading import *  # noqa: F403
from app.policy.messages import *  # noqa: F403
from app.policy.pairs import *  # noqa: F403
from app.policy.records import *  # noqa: F403
from app.policy.therapy_sessions import *  # noqa: F403

JINJA_GLOBALS = {
    "can_record_session_for": can_record_session_for,
    "can_schedule_session_for": can_schedule_session_for,
    "can_change_scheduled_session": can_change_scheduled_session,
    "can_manage_calendar_feed": can_manage_calendar_feed,
    "can_edit_shared_note": can_edit_shared_note,
    "can_view_clinical_note": can_view_clinical_note,
    "can_comment_on_session": can_comment_on_session,
    "can_add_member_note": can_add_member_note,
    "can_view_session_note": can_view_session_note,
    "can_edit_session_note": can_edit_session_note,
    "can_tick_agenda_item": can_tick_agenda_item,
    "can_write_session_note": can_write_session_note,
    "can_manage_note_template": can_manage_note_template,
    "can_view_pair": can_view_pair,
    "can_respond_to_pair": can_respond_to_pair,
    "can_leave_pair": can_leave_pair,
    "can_dissolve_pair": can_dissolve_pair,
    "can_assign_to_pair": can_assign_to_pair,
    "can_share_reflection": can_share_reflection,
    "never_shareable": never_shareable,
    "can_open_reveal": can_open_reveal,
    "can_reply_to": can_reply_to,
    "can_edit_reply": can_edit_reply,
    "can_withdraw_reply": can_withdraw_reply,
    "shareable": shareable,
    "can_withdraw_share": can_withdraw_share,
    "partner_can_read": partner_can_read,
    "reveal_waits_for_reader": reveal_waits_for_reader,
    "reveal_waiting": reveal_waiting,
    "can_edit_exercise": can_edit_exercise,
    "can_duplicate_exercise": can_duplicate_exercise,
    "can_assign_exercise": can_assign_exercise,
    "can_assign_to": can_assign_to,
    "can_manage_assignment": can_manage_assignment,
    "can_change_due_date": can_change_due_date,
    "can_cancel_assignment": can_cancel_assignment,
    "can_reopen_assignment": can_reopen_assignment,
    "can_delete_task": can_delete_task,
    "can_restore_task": can_restore_task,
    "can_delete_reflection": can_delete_reflection,
    "can_restore_reflection": can_restore_reflection,
    "restorable_until": restorable_until,
    "can_write_reflection": can_write_reflection,
    "can_review_reflection": can_review_reflection,
    "can_view_private_annotations": can_view_private_annotations,
    "can_add_addendum": can_add_addendum,
    "can_mark_urgent": can_mark_urgent,
    "can_view_client": can_view_client,
    "can_export_psychotherapy_notes": can_export_psychotherapy_notes,
    "can_view_audit_of": can_view_audit_of,
    "can_view_own_activity": can_view_own_activity,
    "can_invite_clients": can_invite_clients,
    "can_manage_invitation": can_manage_invitation,
    "can_open_notification": can_open_notification,
    "can_read_thread": can_read_thread,
    "can_write_in_thread": can_write_in_thread,
    "can_reply_to_feedback": can_reply_to_feedback,
    "is_therapist": is_therapist,
    "is_client": is_client,
}
