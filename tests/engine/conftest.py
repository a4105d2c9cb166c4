import torch

# The engine tests run many small tensor operations: one intra-op thread avoids thread
# oversubscription (on 2 cores, 2 threads made small FFTs and matmuls 10-20x slower
# whenever anything else ran). Code under test that wants threads sets its own.
torch.set_num_threads(1)
