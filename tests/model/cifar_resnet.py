"""CIFAR ResNet-20/32/44/56/110 (He et al. 2016, section 4.2) in PyTorch, for
the oracle test: 3x3 stem with 16 channels, three stages of 16/32/64 channels,
n basic blocks each (depth = 6n + 2), global average pooling, a linear layer.
Shortcut A: identity, subsampled by 2 and zero-padded with (out - in) / 2
channels on each side when the shape changes; shortcut B: 1x1 conv + BN.
Names follow torchvision's ResNet (conv1, bn1, layerK.I.conv1, ..., fc) so the
same state_dict names work for both."""
import torch
import torch.nn as nn
import torch.nn.functional as F


class BasicBlock(nn.Module):
    def __init__(self, in_planes, planes, stride, shortcut):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.pad = 0
        self.stride = stride
        self.downsample = None
        if stride != 1 or in_planes != planes:
            if shortcut == "A":
                self.pad = (planes - in_planes) // 2
            else:
                self.downsample = nn.Sequential(
                    nn.Conv2d(in_planes, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.downsample is not None:
            res = self.downsample(x)
        elif self.pad or self.stride != 1:
            res = F.pad(x[:, :, ::self.stride, ::self.stride], (0, 0, 0, 0, self.pad, self.pad))
        else:
            res = x
        return F.relu(out + res)


class CifarResNet(nn.Module):
    def __init__(self, depth, num_classes=10, shortcut="A"):
        super().__init__()
        n = (depth - 2) // 6
        self.conv1 = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        in_planes = 16
        for stage, planes in enumerate((16, 32, 64)):
            blocks = []
            for i in range(n):
                stride = 2 if (i == 0 and stage > 0) else 1
                blocks.append(BasicBlock(in_planes, planes, stride, shortcut))
                in_planes = planes
            setattr(self, "layer%d" % (stage + 1), nn.Sequential(*blocks))
        self.fc = nn.Linear(64, num_classes)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        x = F.adaptive_avg_pool2d(x, 1).flatten(1)
        return self.fc(x)
