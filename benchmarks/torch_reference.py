"""The reference PyTorch tutorial's training loop, copied faithfully, for timing only.

Same models, BCELoss, two Adams (lr 2e-4), DataLoader(batch 64, shuffle=True) over MNIST with
ToTensor + Normalize([0.5], [0.5]) applied per image, as `torchvision.datasets.MNIST` does (a
PIL image per example). The only change: the images come from arrays already in memory instead of
torchvision's download folder, which an offline machine cannot fill.
"""

from __future__ import annotations

import time

import numpy as np
import torch
import torch.nn as nn
import torch.optim as optim
from PIL import Image
from torchvision import transforms


class Generator(nn.Module):
    def __init__(self, latent_dim):
        super().__init__()
        self.model = nn.Sequential(
            nn.Linear(latent_dim, 128), nn.ReLU(True), nn.Linear(128, 784), nn.Tanh()
        )

    def forward(self, z):
        return self.model(z)


class Discriminator(nn.Module):
    def __init__(self):
        super().__init__()
        self.model = nn.Sequential(
            nn.Linear(784, 128), nn.LeakyReLU(0.2, inplace=True), nn.Linear(128, 1), nn.Sigmoid()
        )

    def forward(self, img):
        return self.model(img)


class ArrayMNIST(torch.utils.data.Dataset):
    """torchvision.datasets.MNIST's __getitem__ over in-memory uint8 arrays."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, transform):
        self.images, self.labels, self.transform = images.reshape(-1, 28, 28), labels, transform

    def __len__(self):
        return len(self.images)

    def __getitem__(self, index):
        img = Image.fromarray(self.images[index], mode="L")
        return self.transform(img), int(self.labels[index])


def train_steps(
    images: np.ndarray,
    labels: np.ndarray,
    steps: int,
    batch_size: int = 64,
    latent_dim: int = 100,
    lr: float = 2e-4,
    seed: int = 0,
) -> dict[str, float]:
    """Run `steps` reference iterations (after 5 warm-up ones); return steps/s and final losses."""
    torch.manual_seed(seed)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize([0.5], [0.5])])
    dataloader = torch.utils.data.DataLoader(
        ArrayMNIST(images, labels, transform), batch_size=batch_size, shuffle=True
    )
    generator, discriminator = Generator(latent_dim).to(device), Discriminator().to(device)
    adversarial_loss = nn.BCELoss()
    optimizer_G = optim.Adam(generator.parameters(), lr=lr)
    optimizer_D = optim.Adam(discriminator.parameters(), lr=lr)
    warmup, done, t0 = 5, 0, None
    while done < steps + warmup:
        for imgs, _ in dataloader:
            if done == warmup:
                if device.type == "cuda":
                    torch.cuda.synchronize()
                t0 = time.perf_counter()
            real_labels = torch.ones(imgs.size(0), 1).to(device)
            fake_labels = torch.zeros(imgs.size(0), 1).to(device)
            real_imgs = imgs.view(imgs.size(0), -1).to(device)
            optimizer_D.zero_grad()
            real_loss = adversarial_loss(discriminator(real_imgs), real_labels)
            z = torch.randn(imgs.size(0), latent_dim).to(device)
            fake_imgs = generator(z)
            fake_loss = adversarial_loss(discriminator(fake_imgs.detach()), fake_labels)
            d_loss = real_loss + fake_loss
            d_loss.backward()
            optimizer_D.step()
            optimizer_G.zero_grad()
            g_loss = adversarial_loss(discriminator(fake_imgs), real_labels)
            g_loss.backward()
            optimizer_G.step()
            done += 1
            if done == steps + warmup:
                break
    d, g = d_loss.item(), g_loss.item()  # the reference's .item() syncs, once here
    seconds = time.perf_counter() - t0
    return {"steps_per_s": steps / seconds, "seconds": seconds, "d_loss": d, "g_loss": g}
