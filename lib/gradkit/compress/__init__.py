"""Model compression and efficient training (Deep Compression and mixed precision).

One module per job; import the one you need (nothing is imported here, so
``import gradkit.compress`` stays cheap and the numpy-only modules never load torch):

- ``pruning`` (torch): magnitude masks, layer-wise or global, kept applied while
  fine-tuning; iterative prune-and-retrain.
- ``kmeans`` (numpy): 1-D k-means with linear initialisation.
- ``weight_sharing`` (torch): codebook + indices per layer, centroid fine-tuning.
- ``linear_quant`` (numpy): int8 symmetric/asymmetric, per tensor or per channel.
- ``huffman`` (numpy): Huffman codes, encode to bytes, decode, sizes in bits.
- ``sparse_format`` (numpy): relative (gap) indices of a pruned tensor.
- ``size_ledger`` (numpy): bits per layer and the compression ratio against float32.
- ``mixed_precision`` (torch): the half type autocast uses, static and dynamic loss scaling.
- ``deep_compression`` (torch): the whole Deep Compression pipeline on a small classifier.

The MLP builder, the device choice and the seeded mini-batches are ``gradkit.torch_basics``'s.
"""
