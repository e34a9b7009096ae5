"""SQLAlchemy models, by area of the practice. Import them from here: `from app.models import User`."""
from app.models.accounts import AuditEvent, Invitation, LoginSession, RecoveryCode, User  # noqa: F401
from app.models.base import (  # noqa: F401
    ROLE_CLIENT,
    ROLE_THERAPIST,
    UTCDateTime,
    utcnow,
)
from app.models.delivery import (  # noqa: F401
    CHANNEL_EMAIL,
    CHANNEL_PUSH,
    OUTBOX_DROPPED,
    OUTBOX_FAILED,
    OUTBOX_PENDING,
    OUTBOX_SENDING,
    OUTBOX_SENT,
    OutboxItem,
    PushSubscription,
)
from app.models.homework import (  # noqa: F401
    DELETED_DAYS,
    REFLECTION_DRAFT,
    REFLECTION_SUBMITTED,
    SHARING_AUTHOR_CHOICE,
    SHARING_NEVER,
    SHARING_THERAPIST_DEFAULT,
    STAYED_PRESENT_CHOICES,
    TASK_CANCELLED,
    TASK_OPEN,
    TASK_SUBMITTED,
    Addendum,
    Assignment,
    Exercise,
    Feedback,
    PrivateAnnotation,
    Reflection,
)
from app.models.key_checks import KeyCheck  # noqa: F401
from app.models.messages import MESSAGE_MAX_LENGTH, Message, MessageRead, MessageThread  # noqa: F401
from app.models.once import OnceKey  # noqa: F401
from app.models.pairs import Pair, PairExercise, PairMember, PairReply  # noqa: F401
from app.models.progress import (  # noqa: F401
    NOTIFICATION_KINDS,
    Notification,
    ReminderSent,
)
from app.models.sessions import (  # noqa: F401
    NOTE_DRAFT_KINDS,
    NOTE_MEMBER,
    NOTE_SHARED,
    VISIBLE_TO_PAIR,
    VISIBLE_TO_THERAPIST,
    AgendaItem,
    ClinicalNote,
    ClinicalNoteRevision,
    NoteDraft,
    NoteTemplate,
    SessionComment,
    SessionNote,
    SessionNoteRevision,
    TherapySession,
)
