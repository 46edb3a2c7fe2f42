"""Automatic segmentation of 2D views (seed 003): U-Net, U-Net++ and DeepLabV3, fused.

Modules: networks (the three networks), data (images to network inputs and back to the image's
grid), training (DiceCE, Adam, augmentation, early stopping), folds (which network segments which
patient: out-of-fold for training patients, never trained on held-out ones), fusion (mean or vote,
then largest component and hole filling), metrics (Dice, IoU, precision, recall, HD95, bootstrap
CIs), overlays (the report's best / median / worst cases), stage (the rule's entry point), table
(the study-wide metrics and inter-rater Dice).
"""
