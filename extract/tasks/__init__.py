"""Tasks shipped with the package: each a subpackage defining ``TASK`` beside its resources."""
