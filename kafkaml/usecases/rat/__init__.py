"""Wireless technology recognition: LTE, 5G NR, Wi-Fi, ITS-G5, C-V2X PC5 or noise from 20 Msps IQ.

``generator`` synthesises captures from each technology's physical layer, ``preprocess`` turns
windows into the paper's 2×M FFT features, ``real_dataset`` loads real captures into the same
arrays, ``model`` holds the paper's CNN as model source, ``cli`` streams datasets into Kafka.
"""
