"""Video tracking: a frame-stream graph of decode, detect, flow, propagate, pose, associate stages."""
