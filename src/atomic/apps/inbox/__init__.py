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
    banking77_examples,
    default_banking77_path,
    demo_batch,
    load_emails,
)
from atomic.apps.inbox._rules import (
    FACTS_RULES_ID,
    QUEUE_OF_INTENT,
    REPLY_TEMPLATE_ID,
    ROUTER_ID,
    decide_route,
    extract_facts,
    facts_rules,
    inbox_router,
    open_inbox,
    reply_template,
    template_reply,
)
from atomic.apps.inbox._seeds import SEEDS_FILE, SeedEmail, load_seeds
from atomic.apps.inbox._tasks import (
    INBOX_TASKS,
    URGENCY_LEVELS,
    EmailContent,
    EmailFacts,
    ReplyInput,
    RouteDecision,
    RouteInput,
    email_facts,
    reply,
    route,
    urgency,
)
from atomic.apps.inbox._workflow import STEP_NAMES, Handled, StepTrace, handle_email

__all__ = [
    "EMAILS_FILE",
    "FACTS_RULES_ID",
    "INBOX_TASKS",
    "QUEUE_OF_INTENT",
    "REPLY_TEMPLATE_ID",
    "ROUTER_ID",
    "SEEDS_FILE",
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
    "SeedEmail",
    "StepTrace",
    "banking77_emails",
    "banking77_examples",
    "decide_route",
    "default_banking77_path",
    "demo_batch",
    "email_facts",
    "extract_facts",
    "facts_rules",
    "handle_email",
    "inbox_router",
    "load_emails",
    "load_seeds",
    "open_inbox",
    "reply",
    "reply_template",
    "route",
    "template_reply",
    "urgency",
]
