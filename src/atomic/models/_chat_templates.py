"""Chat templates Atomic knows by name, for GGUF files that carry none (or the wrong one)."""

from __future__ import annotations

__all__ = ["CHATML_TEMPLATE", "CHAT_TEMPLATES", "COMPLETION_TEMPLATE", "GEMMA3_TEMPLATE"]

CHATML_TEMPLATE = (
    "{%- for message in messages -%}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' -}}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}{%- endif -%}"
)

# Gemma 3's own template (google/gemma-3-*-it), text only: no system role, so the system text
# opens the first user turn; the assistant is called "model".
GEMMA3_TEMPLATE = (
    "{{- bos_token -}}"
    "{%- if messages[0]['role'] == 'system' -%}"
    "{%- set first_user_prefix = messages[0]['content'] + '\\n\\n' -%}"
    "{%- set loop_messages = messages[1:] -%}"
    "{%- else -%}"
    "{%- set first_user_prefix = '' -%}"
    "{%- set loop_messages = messages -%}"
    "{%- endif -%}"
    "{%- for message in loop_messages -%}"
    "{%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) -%}"
    "{{- raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') -}}"
    "{%- endif -%}"
    "{%- set role = 'model' if message['role'] == 'assistant' else message['role'] -%}"
    "{{- '<start_of_turn>' + role + '\\n' + (first_user_prefix if loop.first else '') -}}"
    "{{- message['content'] | trim -}}"
    "{{- '<end_of_turn>\\n' -}}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- '<start_of_turn>model\\n' -}}{%- endif -%}"
)

# For base (pretrained, not instruction-tuned) models: the chat as a few-shot document. Turn
# markers a base model never learned do worse: Gemma 3 270M base chose the right Banking77
# intent for 16 of 60 messages this way, 5 of 60 with Gemma's chat template.
COMPLETION_TEMPLATE = (
    "{{- bos_token -}}"
    "{%- for message in messages -%}"
    "{%- if message['role'] == 'system' -%}{{- message['content'] + '\\n\\n' -}}"
    "{%- elif message['role'] == 'user' -%}{{- 'Input: ' + message['content'] + '\\nOutput: ' -}}"
    "{%- else -%}{{- message['content'] + '\\n\\n' -}}"
    "{%- endif -%}"
    "{%- endfor -%}"
)

# A base model writes the next "Input:" itself once its answer is done; that is where it stops.
TEMPLATE_STOPS: dict[str, list[str]] = {COMPLETION_TEMPLATE: ["\nInput:"]}

CHAT_TEMPLATES: dict[str, str] = {
    "chatml": CHATML_TEMPLATE,
    "completion": COMPLETION_TEMPLATE,
    "gemma3": GEMMA3_TEMPLATE,
}
"""Chat templates known by name, for GGUF files that carry none."""
