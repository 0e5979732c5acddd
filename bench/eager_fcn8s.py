"""A hand-written eager PyTorch FCN-8s (VGG-16 trunk), the baseline torchcaffe is measured against.

Same graph, names and weights layout as models/voc-fcn8s/deploy.prototxt: conv1_1 pad 100, ceil-mode
max pooling, fc6 7x7 / fc7 1x1 convolutions, 1x1 score layers, fixed bilinear Deconvolutions
(no bias), crops at offsets 5, 9, 31. Weights load from a Caffe param dict (caffeio.load_params).
"""

import torch
import torch.nn.functional as F
from torch import nn

VGG_BLOCKS = [(64, 2), (128, 2), (256, 3), (512, 3), (512, 3)]


def _ch(c, width):
    return max(1, round(c * width))


class EagerFCN8s(nn.Module):
    """FCN-8s as plain PyTorch. forward(x: N x 3 x H x W, BGR mean-subtracted) -> N x C x H x W."""

    def __init__(self, num_classes=21, width=1.0):
        super().__init__()
        self.convs = nn.ModuleDict()
        cin = 3
        for b, (c, n) in enumerate(VGG_BLOCKS, 1):
            for i in range(1, n + 1):
                cout = _ch(c, width)
                pad = 100 if (b, i) == (1, 1) else 1
                self.convs[f"conv{b}_{i}"] = nn.Conv2d(cin, cout, 3, padding=pad)
                cin = cout
        c6 = _ch(4096, width)
        self.convs["fc6"] = nn.Conv2d(cin, c6, 7)
        self.convs["fc7"] = nn.Conv2d(c6, c6, 1)
        self.convs["score_fr"] = nn.Conv2d(c6, num_classes, 1)
        self.convs["score_pool4"] = nn.Conv2d(_ch(512, width), num_classes, 1)
        self.convs["score_pool3"] = nn.Conv2d(_ch(256, width), num_classes, 1)
        k = num_classes
        self.deconvs = nn.ModuleDict(
            {
                "upscore2": nn.ConvTranspose2d(k, k, 4, stride=2, bias=False),
                "upscore_pool4": nn.ConvTranspose2d(k, k, 4, stride=2, bias=False),
                "upscore8": nn.ConvTranspose2d(k, k, 16, stride=8, bias=False),
            }
        )

    def forward(self, x):
        h, w = x.shape[2:]
        y = x
        pools = {}
        for b, (_, n) in enumerate(VGG_BLOCKS, 1):
            for i in range(1, n + 1):
                y = F.relu(self.convs[f"conv{b}_{i}"](y), inplace=True)
            y = F.max_pool2d(y, 2, 2, ceil_mode=True)
            pools[b] = y
        y = F.dropout(F.relu(self.convs["fc6"](y), inplace=True), 0.5, self.training)
        y = F.dropout(F.relu(self.convs["fc7"](y), inplace=True), 0.5, self.training)
        y = self.deconvs["upscore2"](self.convs["score_fr"](y))
        s4 = self.convs["score_pool4"](pools[4])
        y = y + s4[:, :, 5 : 5 + y.shape[2], 5 : 5 + y.shape[3]]
        y = self.deconvs["upscore_pool4"](y)
        s3 = self.convs["score_pool3"](pools[3])
        y = y + s3[:, :, 9 : 9 + y.shape[2], 9 : 9 + y.shape[3]]
        y = self.deconvs["upscore8"](y)
        return y[:, :, 31 : 31 + h, 31 : 31 + w]

    def load_caffe_params(self, params):
        """Copy {layer name: [weight, bias]} numpy arrays (Caffe layout) into this module."""
        with torch.no_grad():
            for name, mod in list(self.convs.items()) + list(self.deconvs.items()):
                blobs = params[name]
                mod.weight.copy_(torch.as_tensor(blobs[0]).reshape(mod.weight.shape))
                if mod.bias is not None:
                    mod.bias.copy_(torch.as_tensor(blobs[1]).reshape(mod.bias.shape))
        return self
