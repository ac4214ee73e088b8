# The program of good/wandb.yaml: loading the sweep file checks that it
# exists; the sweep tests never run it.
import nnsweep_run as run

run.log({"test_accuracy": 0.1})
