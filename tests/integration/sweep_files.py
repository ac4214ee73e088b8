"""sweep_files.py - small sweep files for the integration tests
(test_sweep_mpi.py, test_slurm.py)."""


def sweep_yaml(path, name, n_lr, epochs, train_images, extra="", widths="[[16], [32, 16]]"):
    """Writes a grid sweep `name` of MLPs: widths x n_lr learning rates
    (0.002, 0.004, ...), `epochs` epochs on `train_images` training and 300
    test images, batch 50, no early stopping; `extra` is appended to the
    parameters (indented YAML lines)."""
    lrs = ", ".join(str(0.002 * (k + 1)) for k in range(n_lr))
    with open(path, "w") as f:
        f.write(f"""name: {name}
method: grid
parameters:
  hidden_layers: {{values: {widths}}}
  learning_rate: {{values: [{lrs}]}}
  epochs: {{value: {epochs}}}
  train_images: {{value: {train_images}}}
  test_images: {{value: 300}}
  batch_size: {{value: 50}}
  patience: {{value: 0}}
{extra}""")
