"""The inbox handler, Atomic's reference application: a bank's support emails, each classified,
mined for facts, rated for urgency and sentiment, routed by rules and answered with a draft.

```python
from atomic.apps.inbox import handle_email, load_emails, open_inbox
from atomic.workflows import DirectRunner

async with await open_inbox() as atomic:
    email = load_emails()[0].email
    handled = await DirectRunner(atomic).run(handle_email, email)
```

``atomic demo inbox`` runs it on a batch and scores every step against the expected answers.
Setting ``ATOMIC_TASK_MODULES=atomic.apps.inbox`` makes its tasks known to ``atomic run``.
"""

from atomic.apps.inbox._emails import (
    EMAILS_FILE,
    Email,
    Expected,
    LabelledEmail,
    banking77_emails,
    default_banking77_path,
    demo_batch,
    load_emails,
)
from atomic.apps.inbox._tasks import (
    INBOX_TASKS,
    QUEUE_OF_INTENT,
    ROUTER_ID,
    URGENCY_LEVELS,
    EmailContent,
    EmailFacts,
    ReplyInput,
    RouteDecision,
    RouteInput,
    decide_route,
    email_facts,
    inbox_router,
    open_inbox,
    reply,
    route,
    urgency,
)
from atomic.apps.inbox._workflow import STEP_NAMES, Handled, StepTrace, handle_email

__all__ = [
    "EMAILS_FILE",
    "INBOX_TASKS",
    "QUEUE_OF_INTENT",
    "ROUTER_ID",
    "STEP_NAMES",
    "URGENCY_LEVELS",
    "Email",
    "EmailContent",
    "EmailFacts",
    "Expected",
    "Handled",
    "LabelledEmail",
    "ReplyInput",
    "RouteDecision",
    "RouteInput",
    "StepTrace",
    "banking77_emails",
    "decide_route",
    "default_banking77_path",
    "demo_batch",
    "email_facts",
    "handle_email",
    "inbox_router",
    "load_emails",
    "open_inbox",
    "reply",
    "route",
    "urgency",
]
