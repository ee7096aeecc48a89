"""Applications built on Atomic: complete workflows of tasks, used as references and demos."""
